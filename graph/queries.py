"""Read-side fields: the caller, catalog, runs (connections), tables."""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON
from strawberry.types import Info

from app.errors import DataFlowError, NotFound
from app.models.user import Role as ModelRole
from app.services import api_keys as api_key_service
from app.services import backfills as backfill_service
from app.services import pipelines as pipeline_service
from app.services import row_access
from app.services import runs as run_service
from app.services import sources as source_service
from app.services import tables as table_service
from app.services import users as user_service
from graph.analytics import caller_scope
from graph.context import Context
from graph.mutations.catalog import PipelineValidation, ValidatePipelineInput
from graph.permissions import IsAdmin, IsOperator, IsViewer, require_role
from graph.scalars import Long
from graph.types import (
    ApiKey,
    Column,
    Connection,
    Pipeline,
    Run,
    RunStatus,
    Source,
    TablePreview,
    User,
    connection,
)
from graph.types.backfills import Backfill
from graph.types.catalog import prefetch_sources
from graph.types.common import selects
from graph.types.runs import prefetch_pipelines
from graph.types.tables import RejectedRow


def as_graphql_error(error: DataFlowError) -> GraphQLError:
    return GraphQLError(error.client_message, extensions={"code": error.code}, original_error=error)


@strawberry.input
class RunFilter:
    pipeline_id: strawberry.ID | None = None
    backfill_id: strawberry.ID | None = None
    statuses: list[RunStatus] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    id_prefix: str | None = strawberry.field(
        default=None,
        description="Runs whose id starts with this (at least 4 of 0-9, a-f, -): how a "
        "short id is resolved.",
    )

    def to_service(self) -> run_service.RunFilter:
        return run_service.RunFilter(
            pipeline_id=self.pipeline_id,
            backfill_id=self.backfill_id,
            statuses=self.statuses,
            created_after=self.created_after,
            created_before=self.created_before,
            id_prefix=self.id_prefix,
        )


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[IsViewer])
    async def me(self, info: Info[Context, None]) -> User:
        return User.from_model(await require_role(info.context, ModelRole.VIEWER))

    @strawberry.field(permission_classes=[IsAdmin])
    async def users(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[User]:
        try:
            async with info.context.reads() as session:
                page = await user_service.list_page(session=session, first=first, after=after)
        except DataFlowError as error:
            raise as_graphql_error(error) from None
        return connection(page, [User.from_model(row) for row in page.items])

    @strawberry.field(permission_classes=[IsAdmin], description="A user's API keys.")
    async def api_keys(self, info: Info[Context, None], user_id: strawberry.ID) -> list[ApiKey]:
        async with info.context.reads() as session:
            try:
                owner = await user_service.get(session=session, user_id=user_id)
            except NotFound:
                return []
            keys = await api_key_service.list_for(session=session, user=owner)
        return [ApiKey.from_model(key) for key in keys]

    @strawberry.field(permission_classes=[IsViewer])
    async def sources(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[Source]:
        try:
            async with info.context.reads() as session:
                page = await source_service.list_page(session=session, first=first, after=after)
        except DataFlowError as error:
            raise as_graphql_error(error) from None
        return connection(page, [Source.from_model(row) for row in page.items])

    @strawberry.field(permission_classes=[IsViewer])
    async def source(self, info: Info[Context, None], id: strawberry.ID) -> Source | None:
        async with info.context.reads() as session:
            try:
                return Source.from_model(await source_service.get(session=session, source_id=id))
            except NotFound:
                return None

    @strawberry.field(permission_classes=[IsViewer])
    async def pipelines(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[Pipeline]:
        try:
            async with info.context.reads() as session:
                page = await pipeline_service.list_page(session=session, first=first, after=after)
        except DataFlowError as error:
            raise as_graphql_error(error) from None
        pipelines = [Pipeline.from_model(row) for row in page.items]
        if selects(info, "source"):
            await prefetch_sources(info.context, pipelines)
        return connection(page, pipelines)

    @strawberry.field(permission_classes=[IsViewer])
    async def pipeline(self, info: Info[Context, None], id: strawberry.ID) -> Pipeline | None:
        async with info.context.reads() as session:
            try:
                found = await pipeline_service.get(session=session, pipeline_id=id)
            except NotFound:
                return None
        return Pipeline.from_model(found)

    @strawberry.field(permission_classes=[IsViewer], description="Newest first.")
    async def runs(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: RunFilter | None = None,
    ) -> Connection[Run]:
        where = filter.to_service() if filter else None
        try:
            async with info.context.reads() as session:
                page = await run_service.list_page(
                    session=session, first=first, after=after, where=where
                )
        except DataFlowError as error:
            raise as_graphql_error(error) from None
        runs = [Run.from_model(row) for row in page.items]
        if selects(info, "pipeline"):
            await prefetch_pipelines(info.context, runs, with_sources=selects(info, "source"))
        return connection(page, runs)

    @strawberry.field(permission_classes=[IsViewer])
    async def backfill(self, info: Info[Context, None], id: strawberry.ID) -> Backfill | None:
        async with info.context.reads() as session:
            try:
                found = await backfill_service.get(session=session, backfill_id=id)
            except NotFound:
                return None
        return Backfill.from_model(found)

    @strawberry.field(permission_classes=[IsViewer])
    async def run(self, info: Info[Context, None], id: strawberry.ID) -> Run | None:
        async with info.context.reads() as session:
            try:
                return Run.from_model(await run_service.get(session=session, run_id=id))
            except NotFound:
                return None

    @strawberry.field(permission_classes=[IsViewer])
    async def table_preview(
        self, info: Info[Context, None], table: str, limit: int = 20
    ) -> TablePreview:
        """The first rows of a loaded warehouse table, with its columns and row count,
        within the caller's analytics scope (as `analytics` applies it)."""
        try:
            result, row_count = await table_service.preview(
                settings=info.context.settings,
                table=table,
                limit=limit,
                scope=await caller_scope(info),
                count=selects(info, "rowCount"),
            )
        except DataFlowError as error:
            raise as_graphql_error(error) from None
        columns = [Column(name=name, type=dtype) for name, dtype in result.columns]
        # rowCount is counted only when asked for; unasked, the 0 is never sent.
        return TablePreview(columns=columns, rows=JSON(result.rows), row_count=Long(row_count or 0))

    @strawberry.field(
        permission_classes=[IsOperator],
        description="A run's rejected rows in source order (keyset pages of at most 200). "
        "A caller with an analytics scope sees only rows whose fields are within it.",
    )
    async def rejects(
        self,
        info: Info[Context, None],
        run_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[RejectedRow]:
        try:
            async with info.context.reads() as session:
                run = await run_service.get(session=session, run_id=run_id)
            page = await row_access.rejects_page(
                settings=info.context.settings,
                run_id=run.id,
                scope=await caller_scope(info),
                first=first,
                after=after,
            )
        except DataFlowError as error:
            raise as_graphql_error(error) from None
        return connection(page, [RejectedRow.from_reject(item) for item in page.items])

    @strawberry.field(
        permission_classes=[IsViewer],
        description="Per pipeline: runs created since `since` (all when null), by name.",
    )
    async def report(
        self, info: Info[Context, None], since: datetime | None = None
    ) -> list[PipelineReport]:
        # Imported here so this field stays one appended block (several people edit this file).
        from app.errors import InvalidInput
        from app.services import reports as report_service

        try:
            if since is not None and since.tzinfo is None:
                raise InvalidInput(
                    "since needs a timezone offset, e.g. 2026-01-01T00:00:00Z", path=["since"]
                )
            async with info.context.reads() as session:
                rows = await report_service.by_pipeline(session=session, since=since)
        except DataFlowError as error:
            raise as_graphql_error(error) from None
        return [
            PipelineReport(
                pipeline_id=strawberry.ID(row.pipeline_id),
                pipeline_name=row.pipeline_name,
                runs=row.runs,
                succeeded=row.succeeded,
                failed=row.failed,
                cancelled=row.cancelled,
                active=row.active,
                success_rate=row.success_rate,
                p50_duration_seconds=row.p50_seconds,
                p95_duration_seconds=row.p95_seconds,
                rows_loaded=Long(row.rows_loaded),
                rows_rejected=Long(row.rows_rejected),
            )
            for row in rows
        ]

    @strawberry.field(
        permission_classes=[IsOperator],
        description="Check a pipeline (and the source it declares) as createPipeline or "
        "updatePipeline would, changing nothing: `pipelines apply --dry-run`.",
    )
    async def validate_pipeline(
        self, info: Info[Context, None], input: ValidatePipelineInput
    ) -> PipelineValidation:
        from app.etl.sources.policy import SourcePolicy
        from app.etl.spec_limits import SpecLimits
        from graph.types import UserError

        settings = info.context.settings
        try:
            draft = input.to_draft()
            async with info.context.reads() as session:
                await pipeline_service.validate(
                    session=session,
                    draft=draft,
                    policy=SourcePolicy.from_settings(settings),
                    limits=SpecLimits.from_settings(settings),
                )
        except DataFlowError as error:
            return PipelineValidation(valid=False, errors=[UserError.from_error(error)])
        return PipelineValidation(valid=True)


@strawberry.type(description="One pipeline's runs: counts, durations of succeeded runs, rows.")
class PipelineReport:
    pipeline_id: strawberry.ID
    pipeline_name: str
    runs: int
    succeeded: int
    failed: int
    cancelled: int
    active: int = strawberry.field(description="Queued, running or cancelling.")
    success_rate: float | None = strawberry.field(
        description="Succeeded / ended runs (succeeded, failed, cancelled); null before any ended."
    )
    p50_duration_seconds: float | None = strawberry.field(
        description="Median start-to-finish time of succeeded runs (linear interpolation)."
    )
    p95_duration_seconds: float | None = strawberry.field(
        description="95th percentile start-to-finish time of succeeded runs (linear)."
    )
    rows_loaded: Long = strawberry.field(description="Rows written by succeeded runs.")
    rows_rejected: Long = strawberry.field(description="Rows rejected by succeeded runs.")
