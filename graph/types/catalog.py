"""Sources and pipelines: what a data engineer defines."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.types.unset import UNSET, UnsetType

from app.etl.sources import redact
from app.models.base import column_values
from app.services import pipelines as pipeline_service
from graph.context import Context
from graph.execution import prefetched
from graph.types.common import deferred

if TYPE_CHECKING:
    from app.models.base import Record
    from app.models.pipeline import Pipeline as PipelineModel
    from app.models.pipeline_version import PipelineVersion as PipelineVersionModel
    from app.models.source import Source as SourceModel
    from graph.types.runs import Run


@strawberry.type
class Source:
    id: strawberry.ID
    name: str
    kind: str
    uri: str
    options: JSON
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, model: SourceModel | Record) -> Source:
        source = column_values(model)
        return cls(
            id=strawberry.ID(source["id"]),
            name=source["name"],
            kind=source["kind"],
            uri=source["uri"],
            # Secret references are shown as references, never resolved or echoed.
            options=JSON(redact(source["options"])),
            created_at=source["created_at"],
            updated_at=source["updated_at"],
        )


@strawberry.type
class PipelineVersion:
    version: int
    spec: JSON
    source_id: strawberry.ID
    created_at: datetime

    @classmethod
    def from_model(cls, row: PipelineVersionModel) -> PipelineVersion:
        return cls(
            version=row.version,
            spec=JSON(row.spec),
            source_id=strawberry.ID(row.source_id),
            created_at=row.created_at,
        )


# The fields a Pipeline shows as they are stored.
_PIPELINE_COLUMNS = (
    "name",
    "version",
    "max_attempts",
    "timeout_seconds",
    "concurrency",
    "schedule",
    "timezone",
    "created_at",
    "updated_at",
    "source_id",
)


@strawberry.type
class Pipeline:
    id: strawberry.ID
    name: str
    spec: JSON
    version: int
    max_attempts: int
    timeout_seconds: int
    concurrency: int
    schedule: str | None
    timezone: str
    created_at: datetime
    updated_at: datetime
    source_id: strawberry.Private[str]
    # Set by `prefetch_sources` for a whole page, so each row needs no resolver await.
    prefetched_source: strawberry.Private[Source | UnsetType | None] = UNSET

    @strawberry.field(metadata=prefetched("prefetched_source"))
    def source(self, info: Info[Context, None]) -> Source | None:
        if not isinstance(self.prefetched_source, UnsetType):
            return self.prefetched_source
        return deferred(self._load_source(info))

    async def _load_source(self, info: Info[Context, None]) -> Source | None:
        source = await info.context.source_loader().load(self.source_id)
        return Source.from_model(source) if source else None

    @strawberry.field(description="Every version of the spec, newest first.")
    async def versions(self, info: Info[Context, None]) -> list[PipelineVersion]:
        async with info.context.reads() as session:
            rows = await pipeline_service.versions(session=session, pipeline_id=self.id)
        return [PipelineVersion.from_model(row) for row in rows]

    @strawberry.field(description="The most recently created run, if any.")
    async def last_run(
        self, info: Info[Context, None]
    ) -> Annotated[Run, strawberry.lazy("graph.types.runs")] | None:
        from graph.types.runs import Run

        run = await info.context.last_run_loader().load(self.id)
        return Run.from_model(run) if run else None

    @classmethod
    def from_model(cls, model: PipelineModel | Record) -> Pipeline:
        pipeline = column_values(model)
        plain = {name: pipeline[name] for name in _PIPELINE_COLUMNS}
        return cls(id=strawberry.ID(pipeline["id"]), spec=JSON(pipeline["spec"]), **plain)


async def prefetch_sources(context: Context, pipelines: list[Pipeline]) -> None:
    """Load the sources of a page of pipelines, each once, and attach them."""
    loaded = await context.sources_by_id(list({p.source_id: None for p in pipelines}))
    sources = {record.id: Source.from_model(record) for record in loaded if record is not None}
    for pipeline in pipelines:
        pipeline.prefetched_source = sources.get(pipeline.source_id)
