"""The reaper: takes back runs whose worker vanished, times out runs that ran too long,
and re-sends runs whose queue message was lost. Run periodically by the scheduler."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, update
from sqlmodel import col, select

from app.event_types import RunFinished, RunRetrying
from app.models.base import utcnow
from app.models.pipeline import Pipeline
from app.models.run import Run, RunStatus
from app.services import leases
from app.services import run_events as event_service
from app.services import runs as run_service

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.config import Settings
    from app.event_types import Event
    from app.services.run_events import StoredEvent

# A queued run nobody claimed for this long may have lost its message (a broker restart
# without persistence): send it again; claims are idempotent, so a duplicate is harmless.
STALE_QUEUE = timedelta(seconds=30)


@dataclass
class Reaped:
    changed: list[tuple[Run, list[StoredEvent]]] = field(default_factory=list)
    to_enqueue: list[str] = field(default_factory=list)


async def _end(
    session: AsyncSession, run: Run, status: RunStatus, code: str, message: str, reaped: Reaped
) -> None:
    """Finish the run's current attempt for its vanished worker, with an event."""
    done = await run_service.finish(
        session=session,
        run_id=run.id,
        attempt=run.attempt,
        status=status,
        values={"error_code": code, "error_message": message},
    )
    if done is not None:
        event = RunFinished(status=status.value, attempt=run.attempt, error_code=code)
        await _record(session, reaped, done, event)


async def _record(session: AsyncSession, reaped: Reaped, run: Run, event: Event) -> None:
    stored = await event_service.append(session=session, run_id=run.id, event=event)
    reaped.changed.append((run, [stored]))


async def _crashed(
    session: AsyncSession, settings: Settings, run: Run, max_attempts: int, reaped: Reaped
) -> None:
    """The worker holding `run` stopped renewing its lease: it is gone."""
    message = f"worker {run.worker_id} stopped renewing its lease (attempt {run.attempt})"
    if run.status is RunStatus.CANCELLING:
        await _end(session, run, RunStatus.CANCELLED, "WORKER_LOST", message, reaped)
    elif run.attempt >= max_attempts:
        await _end(session, run, RunStatus.FAILED, "WORKER_LOST", message, reaped)
    else:
        again = await leases.requeue(
            session=session,
            settings=settings,
            run_id=run.id,
            attempt=run.attempt,
            error_code="WORKER_LOST",
            error_message=message,
        )
        if again is not None:
            retrying = RunRetrying(attempt=again.attempt, reason="WORKER_LOST")
            await _record(session, reaped, again, retrying)
            reaped.to_enqueue.append(run.id)


async def reap(*, session: AsyncSession, settings: Settings) -> Reaped:
    now = utcnow()
    reaped = Reaped()
    holding = select(Run, Pipeline).join(Pipeline, col(Pipeline.id) == col(Run.pipeline_id))
    active = holding.where(col(Run.status).in_([RunStatus.RUNNING, RunStatus.CANCELLING]))
    for run, pipeline in (await session.exec(active)).all():
        if run.lease_expires_at is not None and run.lease_expires_at < now:
            await _crashed(session, settings, run, pipeline.max_attempts, reaped)
        elif (
            run.status is RunStatus.RUNNING
            and run.started_at is not None
            and run.started_at + timedelta(seconds=pipeline.timeout_seconds) < now
        ):
            limit = pipeline.timeout_seconds
            message = f"the run took longer than the pipeline's timeout of {limit} s"
            await _end(session, run, RunStatus.FAILED, "RUN_TIMEOUT", message, reaped)
    cutoff = now - STALE_QUEUE
    stale = select(Run.id).where(
        col(Run.status) == RunStatus.QUEUED,
        func.coalesce(col(Run.last_seen_at), col(Run.created_at)) < cutoff,
        or_(col(Run.not_before).is_(None), col(Run.not_before) < cutoff),
    )
    lost = list((await session.exec(stale)).all())
    if lost:
        # Seen now: resent once per STALE_QUEUE at most, not on every sweep.
        await session.exec(update(Run).where(col(Run.id).in_(lost)).values(last_seen_at=now))
    reaped.to_enqueue.extend(lost)
    return reaped
