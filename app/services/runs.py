"""Runs: trigger (idempotent), claim with a fenced attempt, progress and finish."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import col, select

from app.errors import InvalidInput, RunNotFound
from app.models.base import utcnow
from app.models.run import Run, RunStatus
from app.services import pipelines as pipeline_service
from app.services.pagination import Page, paginate

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.models.user import User

MAX_IDEMPOTENCY_KEY = 128
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Triggered:
    run: Run
    created: bool  # False when an idempotency key matched an earlier run


async def get(*, session: AsyncSession, run_id: str) -> Run:
    run = await session.get(Run, run_id)
    if run is None:
        raise RunNotFound(f"run {run_id} does not exist", path=["runId"])
    return run


async def list_page(
    *, session: AsyncSession, first: int | None = None, after: str | None = None
) -> Page[Run]:
    return await paginate(session, select(Run), Run, first=first, after=after)


async def _by_idempotency_key(session: AsyncSession, pipeline_id: str, key: str) -> Run | None:
    statement = select(Run).where(Run.pipeline_id == pipeline_id, Run.idempotency_key == key)
    return (await session.exec(statement)).first()


async def trigger(
    *,
    session: AsyncSession,
    pipeline_id: str,
    actor: User | None,
    idempotency_key: str | None = None,
    params: dict[str, Any] | None = None,
) -> Triggered:
    """Insert a QUEUED run; the same idempotency key returns the earlier run instead."""
    pipeline = await pipeline_service.get(session=session, pipeline_id=pipeline_id)
    if idempotency_key is not None:
        if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidInput(
                f"idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
                path=["idempotencyKey"],
            )
        earlier = await _by_idempotency_key(session, pipeline.id, idempotency_key)
        if earlier is not None:
            return Triggered(run=earlier, created=False)
    run = Run(
        pipeline_id=pipeline.id,
        pipeline_version=pipeline.version,
        idempotency_key=idempotency_key,
        params=params or {},
        created_by=actor.id if actor else None,
    )
    session.add(run)
    await session.flush()
    return Triggered(run=run, created=True)


async def claim(*, session: AsyncSession, run_id: str, worker_id: str) -> Run | None:
    """QUEUED → RUNNING for this worker, atomically; None if another worker has it."""
    now = utcnow()
    result = await session.exec(
        update(Run)
        .where(col(Run.id) == run_id, col(Run.status) == RunStatus.QUEUED)
        .values(
            status=RunStatus.RUNNING,
            worker_id=worker_id,
            lease_expires_at=now + LEASE,
            started_at=now,
        )
    )
    if result.rowcount != 1:
        return None
    run = await get(session=session, run_id=run_id)
    await session.refresh(run)
    return run


async def record_progress(
    *, session: AsyncSession, run_id: str, attempt: int, values: dict[str, Any]
) -> bool:
    """Update a running run, fenced on its attempt: False means this worker lost it."""
    result = await session.exec(
        update(Run)
        .where(
            col(Run.id) == run_id,
            col(Run.attempt) == attempt,
            col(Run.status) == RunStatus.RUNNING,
        )
        .values(**values, lease_expires_at=utcnow() + LEASE)
    )
    return bool(result.rowcount == 1)


async def finish(
    *,
    session: AsyncSession,
    run_id: str,
    attempt: int,
    status: RunStatus,
    values: dict[str, Any],
) -> bool:
    """RUNNING → a terminal status, fenced on the attempt."""
    if not status.is_terminal:
        raise ValueError(f"{status} is not a terminal status")
    result = await session.exec(
        update(Run)
        .where(
            col(Run.id) == run_id,
            col(Run.attempt) == attempt,
            col(Run.status) == RunStatus.RUNNING,
        )
        .values(**values, status=status, finished_at=utcnow(), lease_expires_at=None)
    )
    return bool(result.rowcount == 1)
