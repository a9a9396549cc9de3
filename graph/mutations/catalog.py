"""Defining sources and pipelines: create, update, delete, preview."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.db import session_scope
from app.etl.sources.policy import SourcePolicy
from app.etl.spec_limits import SpecLimits
from app.models.pipeline import PipelineCreate
from app.models.source import SourceCreate
from app.services import pipelines as pipeline_service
from app.services import previews as preview_service
from app.services import sources as source_service
from app.validation import parse_model
from graph.analytics import caller_scope
from graph.context import Context
from graph.mutations.common import errors_as, json_object
from graph.permissions import IsOperator
from graph.types import Pipeline, Source, UserError
from graph.types.tables import Preview

SAMPLE_PARAMS = (
    "Run params to read the source with when checking the spec, for a source whose uri "
    'uses them: a sample partition, e.g. {"partition": "2026-01-01"}.'
)


@strawberry.input
class CreateSourceInput:
    name: str
    kind: str
    uri: str
    options: JSON | None = None


@strawberry.input
class UpdateSourceInput:
    id: strawberry.ID
    name: str | None = None
    uri: str | None = None
    options: JSON | None = None


@strawberry.input(description="How runs are operated; omitted fields keep their value.")
class PipelineOperationsInput:
    max_attempts: int | None = strawberry.field(
        default=None, description="Attempts per run before it fails (transient errors)."
    )
    timeout_seconds: int | None = None
    concurrency: int | None = strawberry.field(
        default=None, description="Runs of this pipeline at once; others wait QUEUED."
    )
    schedule: str | None = strawberry.field(
        default=None, description="Five-field cron; an empty string removes the schedule."
    )
    timezone: str | None = strawberry.field(default=None, description="IANA, e.g. Europe/Berlin")

    def changes(self) -> dict[str, Any]:
        fields = {
            "max_attempts": self.max_attempts,
            "timeout_seconds": self.timeout_seconds,
            "concurrency": self.concurrency,
            "schedule": self.schedule,
            "timezone": self.timezone,
        }
        return {name: value for name, value in fields.items() if value is not None}


@strawberry.input
class CreatePipelineInput:
    name: str
    source_id: strawberry.ID
    spec: JSON
    operations: PipelineOperationsInput | None = None
    sample_params: JSON | None = strawberry.field(default=None, description=SAMPLE_PARAMS)


@strawberry.input
class UpdatePipelineInput:
    id: strawberry.ID
    source_id: strawberry.ID | None = None
    spec: JSON | None = None
    operations: PipelineOperationsInput | None = None
    sample_params: JSON | None = strawberry.field(default=None, description=SAMPLE_PARAMS)


@strawberry.input(description="A source by name, with the fields a pipeline file sets.")
class SourceDefinitionInput:
    name: str
    kind: str | None = None
    uri: str | None = None
    options: JSON | None = None


@strawberry.input(
    description="A pipeline to check as createPipeline (no id) or updatePipeline (id) would."
)
class ValidatePipelineInput:
    name: str
    spec: JSON
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The pipeline it would update; none: a new pipeline."
    )
    source_id: strawberry.ID | None = None
    source: SourceDefinitionInput | None = strawberry.field(
        default=None,
        description="Instead of sourceId: the source as it would be after createSource "
        "(no source has the name) or updateSource with these fields; nothing is stored.",
    )
    operations: PipelineOperationsInput | None = None

    def to_draft(self) -> pipeline_service.Draft:
        declared = self.source
        source = None
        if declared is not None:
            source = pipeline_service.SourceDraft(
                name=declared.name,
                kind=declared.kind,
                uri=declared.uri,
                options=json_object(declared.options, "options"),
            )
        return pipeline_service.Draft(
            name=self.name,
            spec=json_object(self.spec, "spec") or {},
            source_id=str(self.source_id) if self.source_id is not None else None,
            source=source,
            pipeline_id=str(self.id) if self.id is not None else None,
            operations=self.operations.changes() if self.operations else None,
        )


@strawberry.type(description="What validatePipeline found: no errors means it would apply.")
class PipelineValidation:
    valid: bool
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class PreviewPipelineInput:
    source_id: strawberry.ID
    spec: JSON
    limit: int = 20


@strawberry.type
class SourcePayload:
    source: Source | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PipelinePayload:
    pipeline: Pipeline | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PreviewPayload:
    preview: Preview | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


# One payload type per mutation, so each can grow its own fields without breaking others.
@strawberry.type
class CreateSourcePayload(SourcePayload):
    pass


@strawberry.type
class UpdateSourcePayload(SourcePayload):
    pass


@strawberry.type
class DeleteSourcePayload(SourcePayload):
    pass


@strawberry.type
class CreatePipelinePayload(PipelinePayload):
    pass


@strawberry.type
class UpdatePipelinePayload(PipelinePayload):
    pass


@strawberry.type
class DeletePipelinePayload(PipelinePayload):
    pass


@strawberry.type
class PreviewSourcePayload(PreviewPayload):
    pass


@strawberry.type
class PreviewPipelinePayload(PreviewPayload):
    pass


@strawberry.type
class CatalogMutations:
    @strawberry.mutation(permission_classes=[IsOperator])
    @errors_as(CreateSourcePayload)
    async def create_source(
        self,
        info: Info[Context, None],
        input: CreateSourceInput,
    ) -> CreateSourcePayload:
        context = info.context
        data = parse_model(
            SourceCreate,
            {
                "name": input.name,
                "kind": input.kind,
                "uri": input.uri,
                "options": json_object(input.options, "options") or {},
            },
        )
        async with session_scope(context.settings) as session:
            source = await source_service.create(
                session=session,
                data=data,
                actor=await context.user(),
                policy=SourcePolicy.from_settings(context.settings),
            )
        return CreateSourcePayload(source=Source.from_model(source))

    @strawberry.mutation(permission_classes=[IsOperator])
    @errors_as(UpdateSourcePayload)
    async def update_source(
        self,
        info: Info[Context, None],
        input: UpdateSourceInput,
    ) -> UpdateSourcePayload:
        settings = info.context.settings
        changes = {
            "name": input.name,
            "uri": input.uri,
            "options": json_object(input.options, "options"),
        }
        async with session_scope(settings) as session:
            source = await source_service.update(
                session=session,
                source_id=input.id,
                changes=changes,
                policy=SourcePolicy.from_settings(settings),
            )
        return UpdateSourcePayload(source=Source.from_model(source))

    @strawberry.mutation(permission_classes=[IsOperator])
    @errors_as(DeleteSourcePayload)
    async def delete_source(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> DeleteSourcePayload:
        async with session_scope(info.context.settings) as session:
            source = await source_service.delete(session=session, source_id=id)
        return DeleteSourcePayload(source=Source.from_model(source))

    @strawberry.mutation(
        permission_classes=[IsOperator],
        description="The first rows of a source as read, with their inferred types.",
    )
    @errors_as(PreviewSourcePayload)
    async def preview_source(
        self, info: Info[Context, None], id: strawberry.ID, limit: int = 20
    ) -> PreviewSourcePayload:
        result = await preview_service.preview_source(
            settings=info.context.settings, source_id=id, limit=limit
        )
        return PreviewSourcePayload(preview=Preview.from_result(result))

    @strawberry.mutation(permission_classes=[IsOperator])
    @errors_as(CreatePipelinePayload)
    async def create_pipeline(
        self,
        info: Info[Context, None],
        input: CreatePipelineInput,
    ) -> CreatePipelinePayload:
        context = info.context
        data = parse_model(
            PipelineCreate,
            {
                "name": input.name,
                "source_id": str(input.source_id),
                "spec": input.spec,
                **(input.operations.changes() if input.operations else {}),
            },
        )
        async with session_scope(context.settings) as session:
            pipeline = await pipeline_service.create(
                session=session,
                data=data,
                actor=await context.user(),
                policy=SourcePolicy.from_settings(context.settings),
                sample_params=json_object(input.sample_params, "sampleParams"),
                limits=SpecLimits.from_settings(context.settings),
            )
        return CreatePipelinePayload(pipeline=Pipeline.from_model(pipeline))

    @strawberry.mutation(
        permission_classes=[IsOperator],
        description="A new version of the pipeline; runs keep the version they ran.",
    )
    @errors_as(UpdatePipelinePayload)
    async def update_pipeline(
        self,
        info: Info[Context, None],
        input: UpdatePipelineInput,
    ) -> UpdatePipelinePayload:
        context = info.context
        async with session_scope(context.settings) as session:
            pipeline = await pipeline_service.update(
                session=session,
                pipeline_id=input.id,
                spec=json_object(input.spec, "spec"),
                source_id=input.source_id,
                operations=input.operations.changes() if input.operations else None,
                actor=await context.user(),
                policy=SourcePolicy.from_settings(context.settings),
                sample_params=json_object(input.sample_params, "sampleParams"),
                limits=SpecLimits.from_settings(context.settings),
            )
        return UpdatePipelinePayload(pipeline=Pipeline.from_model(pipeline))

    @strawberry.mutation(permission_classes=[IsOperator])
    @errors_as(DeletePipelinePayload)
    async def delete_pipeline(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
    ) -> DeletePipelinePayload:
        async with session_scope(info.context.settings) as session:
            pipeline = await pipeline_service.delete(session=session, pipeline_id=id)
        return DeletePipelinePayload(pipeline=Pipeline.from_model(pipeline))

    @strawberry.mutation(
        permission_classes=[IsOperator],
        description="Run a spec on the first rows of a source without loading anything.",
    )
    @errors_as(PreviewPipelinePayload)
    async def preview_pipeline(
        self,
        info: Info[Context, None],
        input: PreviewPipelineInput,
    ) -> PreviewPipelinePayload:
        result = await preview_service.preview_pipeline(
            settings=info.context.settings,
            source_id=input.source_id,
            spec=json_object(input.spec, "spec") or {},
            limit=input.limit,
            # Joined warehouse tables are read within the caller's scope.
            scope=await caller_scope(info),
        )
        return PreviewPipelinePayload(preview=Preview.from_result(result))
