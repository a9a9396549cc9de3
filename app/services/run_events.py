"""The append-only event log of a run: write one, read those after a cursor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import col, select

from app.models.run import RunEvent

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

MAX_EVENTS_PER_READ = 1000


@dataclass(frozen=True)
class StoredEvent:
    """An event and the id of the run's event before it, so a live subscriber can tell
    whether it missed one (see `app.streams`)."""

    event: RunEvent
    previous_id: int


async def append(
    *,
    session: AsyncSession,
    run_id: str,
    kind: str,
    stage: str | None,
    payload: dict[str, Any],
) -> StoredEvent:
    latest = await session.exec(select(func.max(col(RunEvent.id))).where(RunEvent.run_id == run_id))
    previous_id = latest.one() or 0
    event = RunEvent(run_id=run_id, kind=kind, stage=stage, payload=payload)
    session.add(event)
    await session.flush()
    return StoredEvent(event=event, previous_id=previous_id)


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
