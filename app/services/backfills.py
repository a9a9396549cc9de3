"""Backfills: one run per partition of a time range, passed the partition as params,
followed and cancelled as a whole.

A backfill is refused over a pipeline whose write mode would lose or duplicate rows
(replace keeps only the last partition; a repeated append duplicates), unless the caller
says so explicitly; merge (idempotent on its keys) and replace_partition are exact."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import col, select

from app.errors import InvalidInput, NotFound
from app.models.backfill import Backfill, BackfillStep
from app.models.base import utcnow
from app.models.run import Run, RunStatus
from app.services import pipelines as pipeline_service
from app.services import runs as run_service

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.models.user import User
    from app.services.run_events import StoredEvent

MAX_PARTITIONS = 1000

# Why a backfill over each inexact mode would not leave exactly the source's rows.
UNSAFE_MODES = {
    "replace": "each partition's run replaces the whole table, so only the last one stays",
    "append": "a partition backfilled again (or already loaded) is appended twice",
}


class BackfillModeUnsafe(InvalidInput):
    """A backfill over a pipeline whose mode would lose or duplicate rows."""

    code = "BACKFILL_MODE_UNSAFE"


def partitions(
    start: datetime, end: datetime, step: BackfillStep
) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into steps; months follow the calendar."""
    if end <= start:
        raise InvalidInput("`to` must be after `from`", path=["to"])
    cuts: list[tuple[datetime, datetime]] = []
    current = start
    while current < end:
        following = _advance(current, step)
        cuts.append((current, min(following, end)))
        current = following
        if len(cuts) > MAX_PARTITIONS:
            raise InvalidInput(
                f"at most {MAX_PARTITIONS} partitions per backfill; use a larger step",
                path=["step"],
            )
    return cuts


def refuse_unsafe_mode(name: str, spec: Mapping[str, Any]) -> None:
    """Raise BackfillModeUnsafe when the pipeline's write mode is not exact."""
    destination = spec.get("destination")
    mode = destination.get("mode", "append") if isinstance(destination, Mapping) else None
    if not isinstance(mode, str) or mode not in UNSAFE_MODES:
        return
    raise BackfillModeUnsafe(
        f"pipeline {name} writes with mode {mode}: {UNSAFE_MODES[mode]}. Use mode "
        "replace_partition (with partition_column) or merge (with keys) for an exact "
        "backfill, or pass allowUnsafeMode: true to backfill anyway",
        path=["allowUnsafeMode"],
        details={"mode": mode},
    )


def _advance(moment: datetime, step: BackfillStep) -> datetime:
    if step is BackfillStep.HOUR:
        return moment + timedelta(hours=1)
    if step is BackfillStep.DAY:
        return moment + timedelta(days=1)
    if step is BackfillStep.WEEK:
        return moment + timedelta(weeks=1)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=1)


def partition_params(start: datetime, end: datetime, step: BackfillStep) -> dict[str, str]:
    """What a source can use: `{partition}` is a date (or an hour), plus the bounds."""
    label = (
        start.strftime("%Y-%m-%dT%H:00") if step is BackfillStep.HOUR else start.date().isoformat()
    )
    return {
        "partition": label,
        "partition_start": start.isoformat(),
        "partition_end": end.isoformat(),
    }


@dataclass
class Created:
    backfill: Backfill
    runs: list[Run] = field(default_factory=list)
    events: list[StoredEvent] = field(default_factory=list)


async def create(
    *,
    session: AsyncSession,
    pipeline_id: str,
    start: datetime,
    end: datetime,
    step: BackfillStep,
    actor: User | None,
    allow_unsafe_mode: bool = False,
) -> Created:
    pipeline = await pipeline_service.get(session=session, pipeline_id=pipeline_id)
    if not allow_unsafe_mode:
        refuse_unsafe_mode(pipeline.name, pipeline.spec)
    cuts = partitions(start, end, step)
    backfill = Backfill(
        pipeline_id=pipeline.id,
        start=start,
        end=end,
        step=step,
        partitions=len(cuts),
        created_by=actor.id if actor else None,
    )
    session.add(backfill)
    await session.flush()
    created = Created(backfill=backfill)
    for low, high in cuts:
        params = partition_params(low, high, step)
        triggered = await run_service.trigger(
            session=session,
            pipeline_id=pipeline.id,
            actor=actor,
            idempotency_key=f"backfill:{backfill.id}:{params['partition']}",
            params=params,
            scheduled_for=low,
            backfill_id=backfill.id,
        )
        created.runs.append(triggered.run)
        created.events.extend(triggered.events)
    return created


async def get(*, session: AsyncSession, backfill_id: str) -> Backfill:
    backfill = await session.get(Backfill, backfill_id)
    if backfill is None:
        raise NotFound(f"backfill {backfill_id} does not exist", path=["backfillId"])
    return backfill


async def progress(*, session: AsyncSession, backfill_id: str) -> dict[RunStatus, int]:
    """How many of its runs are in each status."""
    statement = (
        select(Run.status, func.count())
        .where(Run.backfill_id == backfill_id)
        .group_by(col(Run.status))
    )
    counts = dict.fromkeys(RunStatus, 0)
    for status, count in (await session.exec(statement)).all():
        counts[RunStatus(status)] = count
    return counts


async def cancel(*, session: AsyncSession, backfill_id: str) -> list[run_service.Changed]:
    """Cancel every run of the backfill that has not ended."""
    backfill = await get(session=session, backfill_id=backfill_id)
    backfill.cancelled_at = utcnow()
    session.add(backfill)
    open_runs = select(Run.id).where(
        Run.backfill_id == backfill_id,
        col(Run.status).in_([RunStatus.QUEUED, RunStatus.RUNNING]),
    )
    changed = []
    for run_id in (await session.exec(open_runs)).all():
        changed.append(await run_service.cancel(session=session, run_id=run_id))
    return changed
