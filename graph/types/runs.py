"""Runs, their status and their event stream."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.types.unset import UNSET, UnsetType

from app.errors import InvalidInput
from app.event_types import EventKind
from app.models.base import column_values
from app.models.run import RunStatus as RunStatus  # re-exported for the schema
from app.services import run_events as event_service
from graph.context import Context
from graph.execution import prefetched
from graph.scalars import Long
from graph.types.catalog import Pipeline, prefetch_sources
from graph.types.common import deferred

if TYPE_CHECKING:
    from app.models.base import Record
    from app.models.run import Run as RunModel
    from app.models.run import RunEvent as RunEventModel

strawberry.enum(RunStatus)  # registers the model's enum in place
strawberry.enum(EventKind, name="RunEventKind", description="What a run event tells.")
MAX_EVENTS_PAGE = 1000


@strawberry.type
class RunError:
    code: str
    message: str


@strawberry.type
class RunEvent:
    id: strawberry.ID = strawberry.field(description="Also the cursor to resume after.")
    run_id: strawberry.ID
    at: datetime
    type: EventKind
    kind: str = strawberry.field(deprecation_reason="Use `type`, the same kind as an enum.")
    stage: str | None
    payload: JSON

    @classmethod
    def from_model(cls, event: RunEventModel) -> RunEvent:
        return cls(
            id=strawberry.ID(str(event.id)),
            run_id=strawberry.ID(event.run_id),
            at=event.created_at,
            type=EventKind(event.kind),
            kind=event.kind,
            stage=event.stage,
            payload=JSON(event.payload),
        )


def parse_event_cursor(after: str | None) -> int:
    """Event cursors are event ids; anything else is refused with a clear error."""
    from graphql import GraphQLError

    try:
        return event_service.parse_cursor(after)
    except InvalidInput as error:
        raise GraphQLError(error.message, extensions={"code": error.code}) from None


# The fields a Run shows as they are stored.
_RUN_COLUMNS = (
    "status",
    "attempt",
    "stage",
    "rows_read",
    "rows_written",
    "rows_rejected",
    "rows_filtered",
    "idempotency_key",
    "pipeline_version",
    "created_at",
    "scheduled_for",
    "not_before",
    "started_at",
    "finished_at",
    "pipeline_id",
)


@strawberry.type
class Run:
    id: strawberry.ID
    status: RunStatus
    attempt: int
    stage: str | None
    rows_read: Long
    rows_written: Long
    rows_rejected: Long
    rows_filtered: Long
    idempotency_key: str | None
    params: JSON
    pipeline_version: int
    created_at: datetime
    scheduled_for: datetime | None = strawberry.field(
        description="The schedule tick or backfill partition this run is for."
    )
    not_before: datetime | None = strawberry.field(
        description="A retry waits until then (backoff)."
    )
    started_at: datetime | None
    finished_at: datetime | None
    error: RunError | None
    pipeline_id: strawberry.Private[str]
    # Set by `prefetch_pipelines` for a whole page, so each row needs no resolver await.
    prefetched_pipeline: strawberry.Private[Pipeline | UnsetType | None] = UNSET

    @strawberry.field(metadata=prefetched("prefetched_pipeline"))
    def pipeline(self, info: Info[Context, None]) -> Pipeline | None:
        if not isinstance(self.prefetched_pipeline, UnsetType):
            return self.prefetched_pipeline
        return deferred(self._load_pipeline(info))

    async def _load_pipeline(self, info: Info[Context, None]) -> Pipeline | None:
        pipeline = await info.context.pipeline_loader().load(self.pipeline_id)
        return Pipeline.from_model(pipeline) if pipeline else None

    @strawberry.field(description="Stored events after the cursor `after`, oldest first.")
    async def events(
        self, info: Info[Context, None], after: str | None = None, first: int = 100
    ) -> list[RunEvent]:
        from graphql import GraphQLError

        if not 1 <= first <= MAX_EVENTS_PAGE:
            raise GraphQLError(
                f"first must be between 1 and {MAX_EVENTS_PAGE}",
                extensions={"code": "INVALID_INPUT"},
            )
        async with info.context.reads() as session:
            rows = await event_service.list_after(
                session=session, run_id=self.id, after=parse_event_cursor(after), limit=first
            )
        return [RunEvent.from_model(row) for row in rows]

    @classmethod
    def from_model(cls, model: RunModel | Record) -> Run:
        run = column_values(model)
        error = None
        if run["error_code"] is not None:
            error = RunError(code=run["error_code"], message=run["error_message"] or "")
        plain = {name: run[name] for name in _RUN_COLUMNS}
        return cls(id=strawberry.ID(run["id"]), params=JSON(run["params"]), error=error, **plain)


async def prefetch_pipelines(context: Context, runs: list[Run], *, with_sources: bool) -> None:
    """Load the pipelines (and their sources) of a page of runs, each once."""
    loaded = await context.pipelines_by_id(list({run.pipeline_id: None for run in runs}))
    pipelines = {model.id: Pipeline.from_model(model) for model in loaded if model is not None}
    if with_sources:
        await prefetch_sources(context, list(pipelines.values()))
    for run in runs:
        run.prefetched_pipeline = pipelines.get(run.pipeline_id)
