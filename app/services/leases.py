"""A worker's hold on a run: claim it (within the pipeline's concurrency), keep it,
hand it back for a retry. Every write is fenced on the attempt the worker holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from app.models.base import utcnow
from app.models.pipeline import Pipeline
from app.models.run import Run, RunStatus
from app.retry import full_jitter

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.config import Settings

# How long a run that found no free slot waits before its worker looks again.
SLOT_WAIT = timedelta(seconds=2)
_HOLDING_A_SLOT = (RunStatus.RUNNING, RunStatus.CANCELLING)


@dataclass(frozen=True)
class Claim:
    run: Run | None  # ours to execute, or None
    retry_at: datetime | None = None  # not yet: look again then (slot busy, backoff)


def lease_until(settings: Settings, now: datetime | None = None) -> datetime:
    return (now or utcnow()) + timedelta(seconds=settings.run_lease_seconds)


async def claim(*, session: AsyncSession, settings: Settings, run_id: str, worker_id: str) -> Claim:
    """QUEUED → RUNNING for this worker if its backoff is over and its pipeline has a free
    concurrency slot; atomic against other workers and other runs of the pipeline."""
    run = await session.get(Run, run_id)
    if run is None or run.status is not RunStatus.QUEUED:
        return Claim(run=None)
    now = utcnow()
    if run.not_before is not None and run.not_before > now:
        return _look_again(session, run, now, at=run.not_before)  # still backing off
    claimed = await _take_slot(session, settings, run, worker_id, now)
    if claimed is not None:
        return Claim(run=claimed)
    await session.refresh(run)
    if run.status is RunStatus.QUEUED:
        return _look_again(session, run, now, at=now + SLOT_WAIT)  # no free slot yet
    return Claim(run=None)


def _look_again(session: AsyncSession, run: Run, now: datetime, *, at: datetime) -> Claim:
    """Not yet: the worker looks again `at` then. The run's message is alive, so it is
    marked seen (the reaper need not resend it)."""
    run.last_seen_at = now
    session.add(run)
    return Claim(run=None, retry_at=at)


async def _take_slot(
    session: AsyncSession, settings: Settings, run: Run, worker_id: str, now: datetime
) -> Run | None:
    """The conditional UPDATE that claims the run if a slot of its pipeline is free."""
    # Claims of one pipeline's runs queue up behind this row lock (PostgreSQL; SQLite
    # serialises every write anyway), so the slot count below cannot be raced.
    locked = select(col(Pipeline.concurrency)).where(col(Pipeline.id) == run.pipeline_id)
    limit: int = (await session.exec(locked.with_for_update())).one()
    busy = (
        sa_select(func.count())
        .select_from(Run)
        .where(col(Run.pipeline_id) == run.pipeline_id, col(Run.status).in_(_HOLDING_A_SLOT))
        .scalar_subquery()
    )
    statement = (
        update(Run)
        .where(
            col(Run.id) == run.id,
            col(Run.status) == RunStatus.QUEUED,
            or_(col(Run.not_before).is_(None), col(Run.not_before) <= now),
            busy < limit,
        )
        .values(
            status=RunStatus.RUNNING,
            worker_id=worker_id,
            lease_expires_at=lease_until(settings, now),
            started_at=now,
            not_before=None,
        )
        .returning(Run)
    )
    claimed: Run | None = (await session.exec(statement)).scalars().first()
    return claimed


def _fenced(run_id: str, attempt: int, statuses: tuple[RunStatus, ...]) -> Any:
    return and_(col(Run.id) == run_id, col(Run.attempt) == attempt, col(Run.status).in_(statuses))


async def renew(*, session: AsyncSession, settings: Settings, run_id: str, attempt: int) -> bool:
    """Extend the lease; False when the run is no longer this attempt's to hold."""
    statement = (
        update(Run)
        .where(_fenced(run_id, attempt, _HOLDING_A_SLOT))
        .values(lease_expires_at=lease_until(settings))
    )
    result = await session.exec(statement)
    return bool(result.rowcount == 1)


def backoff(settings: Settings, attempt: int) -> timedelta:
    """The run's wait before its next attempt: the one retry policy (`app.retry`)."""
    return timedelta(
        seconds=full_jitter(attempt, settings.retry_base_seconds, settings.retry_max_seconds)
    )


async def requeue(
    *,
    session: AsyncSession,
    settings: Settings,
    run_id: str,
    attempt: int,
    error_code: str,
    error_message: str,
    from_statuses: tuple[RunStatus, ...] = (RunStatus.RUNNING,),
) -> Run | None:
    """Give the run back as its next attempt, after a backoff; fenced on `attempt`."""
    statement = (
        update(Run)
        .where(_fenced(run_id, attempt, from_statuses))
        .values(
            status=RunStatus.QUEUED,
            attempt=attempt + 1,
            not_before=utcnow() + backoff(settings, attempt),
            worker_id=None,
            lease_expires_at=None,
            error_code=error_code,
            error_message=error_message,
        )
        .returning(Run)
    )
    run: Run | None = (await session.exec(statement)).scalars().first()
    return run
