"""Live fields over graphql-transport-ws: a run's events, replayed then streamed."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app.errors import DataFlowError
from app.streams import follow_run
from graph.context import Context
from graph.permissions import IsViewer
from graph.types import RunEvent


def parse_event_cursor(after: str | None) -> int:
    if after is None or after == "":
        return 0
    if not after.isdigit():
        raise GraphQLError(
            "after must be the id of an event this run emitted",
            extensions={"code": "INVALID_INPUT"},
        )
    return int(after)


@strawberry.type
class Subscription:
    @strawberry.subscription(permission_classes=[IsViewer])
    async def run_events(
        self, info: Info[Context, None], run_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[RunEvent, None]:
        """Events after the cursor `after`, then live ones; completes when the run ends."""
        cursor = parse_event_cursor(after)
        try:
            async for event in follow_run(info.context.settings, str(run_id), cursor):
                yield RunEvent.from_model(event)
        except DataFlowError as error:
            raise GraphQLError(error.message, extensions={"code": error.code}) from None
