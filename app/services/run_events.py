"""The append-only event log of a run: write one, read those after a cursor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlmodel import col, select

from app.errors import InvalidInput
from app.models.run import RunEvent

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.event_types import Event

MAX_EVENTS_PER_READ = 1000
# Event ids are 64-bit signed integers in every metadata database.
MAX_EVENT_ID = 2**63 - 1
CURSOR_HELP = "an event id of this run (digits), or null to start at its first event"


@dataclass(frozen=True)
class StoredEvent:
    """An event and the id of the run's event before it, so a live subscriber can tell
    whether it missed one (see `app.streams`)."""

    event: RunEvent
    previous_id: int


async def append(*, session: AsyncSession, run_id: str, event: Event) -> StoredEvent:
    """Store `event` as the run's next: its kind and stage as plain text, its payload
    as JSON (the form every reader, old events included, knows)."""
    latest = await session.exec(select(func.max(col(RunEvent.id))).where(RunEvent.run_id == run_id))
    previous_id = latest.one() or 0
    stored = RunEvent(
        run_id=run_id,
        kind=event.kind.value,
        stage=event.stage.value if event.stage is not None else None,
        payload=event.to_payload(),
    )
    session.add(stored)
    await session.flush()
    return StoredEvent(event=stored, previous_id=previous_id)


async def list_after(
    *, session: AsyncSession, run_id: str, after: int = 0, limit: int = MAX_EVENTS_PER_READ
) -> list[RunEvent]:
    statement = (
        select(RunEvent)
        .where(RunEvent.run_id == run_id, col(RunEvent.id) > after)
        .order_by(col(RunEvent.id))
        .limit(min(limit, MAX_EVENTS_PER_READ))
    )
    return list((await session.exec(statement)).all())


def parse_cursor(text: str | None) -> int:
    """An event cursor as the API takes it: null, "" or "0" start before the first event;
    anything but plain ASCII digits within the id range is refused (`str.isdigit` would
    pass "²", which `int` refuses, and "٣", which it reads as 3)."""
    if text is None or text == "":
        return 0
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_EVENT_ID:
        raise InvalidInput(f"after: {text!r} is not {CURSOR_HELP}", path=["after"])
    return int(text)


async def find(*, session: AsyncSession, run_id: str, event_id: int) -> RunEvent | None:
    """The run's event with this id; None if there is none, or it is another run's."""
    statement = select(RunEvent).where(RunEvent.run_id == run_id, RunEvent.id == event_id)
    return (await session.exec(statement)).first()
