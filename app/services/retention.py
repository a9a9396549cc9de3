"""Retention: forget finished runs (and their events) older than a cutoff; never a live one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlmodel import col, select

from app.models.run import TERMINAL_STATUSES, Run, RunEvent

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True)
class Removed:
    runs: int
    events: int
    run_ids: list[str]


async def finished_before(*, session: AsyncSession, cutoff: datetime) -> list[str]:
    """Runs that ended before `cutoff`. Running, queued and cancelling runs are never
    among them, however old."""
    old = select(Run.id).where(
        col(Run.status).in_(list(TERMINAL_STATUSES)),
        col(Run.finished_at).is_not(None),
        col(Run.finished_at) < cutoff,
    )
    return list((await session.exec(old)).all())


async def remove(*, session: AsyncSession, run_ids: list[str]) -> Removed:
    """Delete these runs with their events."""
    if not run_ids:
        return Removed(runs=0, events=0, run_ids=[])
    events = await session.exec(delete(RunEvent).where(col(RunEvent.run_id).in_(run_ids)))
    runs = await session.exec(delete(Run).where(col(Run.id).in_(run_ids)))
    return Removed(runs=runs.rowcount, events=events.rowcount, run_ids=run_ids)
