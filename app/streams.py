"""Following runs live.

`follow_run` replays a run's stored events after a cursor, then streams live ones. Every
published message carries the id of the run's previous event, so a subscriber knows when
it missed one (a dropped pub/sub message, a full buffer) and fills the gap from the log:
it sees every event exactly once, in order.

`follow_run_updates` streams run snapshots as their status or counters change.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.db import session_scope
from app.errors import InvalidInput
from app.event_types import EventKind
from app.events import get_event_bus, run_events_channel, run_updates_channel
from app.models.run import Run, RunEvent
from app.pubsub import RESYNC, put_nowait_or_drop
from app.services import run_events as event_service
from app.services import runs as run_service

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator

    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.config import Settings
    from app.pubsub import Queue

FINISHED = EventKind.RUN_FINISHED
# After a whole period without a live message the log is checked anyway. Gaps are found
# by the next message's `previous_id`, and a Redis outage by the bus (RESYNC); this only
# catches a lost *last* message (e.g. a run_finished whose publish failed), so it can be
# slow: it fires between one and two periods after the last message, and every idle
# subscriber costs a query per period.
POLL_SECONDS = 10.0
# Put in the subscriber's own queue by its alarm; never published.
_QUIET: dict[str, Any] = {"quiet": True}


def message_to_event(message: dict[str, Any]) -> RunEvent:
    return RunEvent(
        id=message["id"],
        run_id=message["run_id"],
        created_at=datetime.fromisoformat(message["created_at"]),
        kind=message["kind"],
        stage=message["stage"],
        payload=message["payload"],
    )


# The bus hands one decoded message to every local subscriber of its run, so the model
# is built once for all of them too: keyed by the message's identity, with the message
# pinned so that its id is not reused meanwhile. It need only span one event's fan-out,
# so it is small and simply cleared when full.
_LIVE_MODELS_MAX = 256
_live_models: dict[int, tuple[dict[str, Any], RunEvent]] = {}


def live_event(message: dict[str, Any]) -> RunEvent:
    """The model of a live message, shared by everyone who got the same message."""
    hit = _live_models.get(id(message))
    if hit is not None and hit[0] is message:
        return hit[1]
    event = message_to_event(message)
    if len(_live_models) >= _LIVE_MODELS_MAX:
        _live_models.clear()
    _live_models[id(message)] = (message, event)
    return event


async def _read_log(settings: Settings, run_id: str, after: int) -> list[RunEvent]:
    async with session_scope(settings) as session:
        return await event_service.list_after(session=session, run_id=run_id, after=after)


async def _replay(settings: Settings, run_id: str, after: int) -> list[RunEvent]:
    """Stored events after the cursor, up to the run's latest `run_finished` if it has
    ended (a run that was retried goes on past an earlier one)."""
    events: list[RunEvent] = []
    while batch := await _read_log(settings, run_id, after):
        events.extend(batch)
        after = batch[-1].id or after
    return events


async def follow_run(
    settings: Settings, run_id: str, after: int = 0, poll_seconds: float = POLL_SECONDS
) -> AsyncIterator[RunEvent]:
    """Yield the run's events after `after`, live, ending with its final `run_finished`.

    `after` is 0 or one of this run's events (else InvalidInput, before anything is
    sent): a client resumes with the last id it saw, and if that was the `run_finished`
    of an ended run there is nothing more to wait for, so the stream ends at once."""
    async with session_scope(settings) as session:
        await run_service.get(session=session, run_id=run_id)  # RUN_NOT_FOUND early
        cursor_kind = await _cursor_kind(session, run_id, after)
    async with get_event_bus(settings).subscribe(run_events_channel(run_id)) as live:
        alarm = _QuietAlarm(live, poll_seconds)
        try:
            stream = _follow(settings, run_id, (after, cursor_kind), live, alarm)
            async with aclosing(stream) as events:
                async for event in events:
                    yield event
        finally:
            alarm.cancel()


async def _cursor_kind(session: AsyncSession, run_id: str, after: int) -> str | None:
    """The kind of the cursor's event (None for the start); refuses a cursor that is no
    event of this run: an unknown id would wait forever for events that never come, and
    another run's id would resume at a place this run never was."""
    if after == 0:
        return None
    event = await event_service.find(session=session, run_id=run_id, event_id=after)
    if event is None:
        raise InvalidInput(f"after: {after} is not an event of run {run_id}", path=["after"])
    return event.kind


async def _follow(
    settings: Settings,
    run_id: str,
    cursor: tuple[int, str | None],
    live: Queue,
    alarm: _QuietAlarm,
) -> AsyncGenerator[RunEvent, None]:
    last, last_kind = cursor  # the newest event the subscriber has: its id and kind
    while True:
        # The log first: on start, after a gap, or when live has been quiet.
        for event in await _replay(settings, run_id, last):
            assert event.id is not None
            last, last_kind = event.id, event.kind
            yield event
        # The newest stored event is a run_finished: the run has ended (a retry would
        # have stored its run_queued after it). So also for a cursor at that event.
        if last_kind == FINISHED:
            return
        while True:
            message = await live.get()
            if message is _QUIET or message is RESYNC:
                break  # quiet for long, or the feed was interrupted: read the log
            alarm.heard = True
            if message["id"] <= last:
                continue  # already replayed from the log
            if message.get("previous_id", 0) > last:
                break  # we missed one: refill from the log
            last = message["id"]
            yield live_event(message)
            if message["kind"] == FINISHED:
                return


class _QuietAlarm:
    """Puts _QUIET in the queue after a whole period in which nothing was heard.

    One timer per subscriber per period: a timeout around each wait would schedule and
    cancel a timer per subscriber for every event (and fill the loop's timer heap)."""

    def __init__(self, live: Queue, seconds: float) -> None:
        self.heard = False
        self._live = live
        self._seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(seconds, self._ring)

    def _ring(self) -> None:
        if not self.heard:
            put_nowait_or_drop(self._live, _QUIET)
        self.heard = False
        self._handle = self._loop.call_later(self._seconds, self._ring)

    def cancel(self) -> None:
        self._handle.cancel()


async def follow_run_updates(settings: Settings, pipeline_id: str | None) -> AsyncIterator[Run]:
    """Snapshots of runs (of one pipeline, or all) each time one changes, until closed."""
    channel = run_updates_channel(pipeline_id)
    async with get_event_bus(settings).subscribe(channel) as live:
        while True:
            message = await live.get()
            if message is not RESYNC:  # a missed snapshot is superseded by the next one
                yield Run.model_validate(message)
