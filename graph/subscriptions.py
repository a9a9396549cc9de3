"""Live fields over graphql-transport-ws: a run's events, and run status changes."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app.errors import DataFlowError
from app.streams import follow_run, follow_run_updates
from graph.context import Context
from graph.permissions import IsViewer
from graph.types import Run, RunEvent, parse_event_cursor

if TYPE_CHECKING:
    from app.models.run import RunEvent as RunEventModel


class _SharedEventType:
    """follow_run hands every subscriber of a run the same model for a live event; the
    GraphQL object made from the last one is kept, so that they all share it too."""

    def __init__(self) -> None:
        self._last: tuple[RunEventModel, RunEvent] | None = None  # swapped whole

    def __call__(self, event: RunEventModel) -> RunEvent:
        last = self._last
        if last is not None and last[0] is event:
            return last[1]
        made = RunEvent.from_model(event)
        self._last = (event, made)
        return made


_shared_type = _SharedEventType()


@strawberry.type
class Subscription:
    @strawberry.subscription(permission_classes=[IsViewer])
    async def run_events(
        self, info: Info[Context, None], run_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[RunEvent, None]:
        """Events after the cursor `after` (an event id), then live ones; completes after
        the run's `run_finished` event. Resume with the last id you saw: nothing is missed
        and nothing comes twice."""
        cursor = parse_event_cursor(after)
        try:
            with info.context.subscription_slot():
                async for event in follow_run(info.context.settings, str(run_id), cursor):
                    yield _shared_type(event)
        except DataFlowError as error:
            raise GraphQLError(error.message, extensions={"code": error.code}) from None

    @strawberry.subscription(permission_classes=[IsViewer])
    async def run_updates(
        self, info: Info[Context, None], pipeline_id: strawberry.ID | None = None
    ) -> AsyncGenerator[Run, None]:
        """A run's new state each time its status or counters change: of one pipeline,
        or of every run when `pipelineId` is omitted. For live run lists."""
        with info.context.subscription_slot():
            async for run in follow_run_updates(info.context.settings, pipeline_id):
                yield Run.from_model(run)
