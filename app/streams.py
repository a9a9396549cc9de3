"""Following a run: replay its stored events after a cursor, then stream live ones.

Every published message carries the id of the run's previous event, so a subscriber
knows when it missed one (a dropped pub/sub message, a full buffer) and fills the gap
from the event log: it sees every event exactly once, in order.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.db import session_scope
from app.events import get_event_bus
from app.models.run import RunEvent
from app.services import run_events as event_service
from app.services import runs as run_service

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from app.config import Settings

FINISHED = "run_finished"
# How long to wait for a live message before checking the log anyway.
POLL_SECONDS = 2.0


def message_to_event(message: dict[str, Any]) -> RunEvent:
    return RunEvent(
        id=message["id"],
        run_id=message["run_id"],
        created_at=datetime.fromisoformat(message["created_at"]),
        kind=message["kind"],
        stage=message["stage"],
        payload=message["payload"],
    )


async def _read_log(settings: Settings, run_id: str, after: int) -> list[RunEvent]:
    async with session_scope(settings) as session:
        return await event_service.list_after(session=session, run_id=run_id, after=after)


async def follow_run(
    settings: Settings, run_id: str, after: int = 0, poll_seconds: float = POLL_SECONDS
) -> AsyncIterator[RunEvent]:
    """Yield the run's events after `after`, live, ending with its `run_finished` event."""
    async with session_scope(settings) as session:
        await run_service.get(session=session, run_id=run_id)  # RUN_NOT_FOUND early
    async with get_event_bus(settings).subscribe(run_id) as live:
        last = after
        while True:
            # Drain the log first: on start, after a gap, or when live is quiet.
            for event in await _read_log(settings, run_id, last):
                assert event.id is not None
                last = event.id
                yield event
                if event.kind == FINISHED:
                    return
            while True:
                try:
                    message = await asyncio.wait_for(live.get(), poll_seconds)
                except TimeoutError:
                    break
                if message["id"] <= last:
                    continue  # already replayed from the log
                if message.get("previous_id", 0) > last:
                    break  # we missed one: refill from the log
                last = message["id"]
                yield message_to_event(message)
                if message["kind"] == FINISHED:
                    return
