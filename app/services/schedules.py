"""Scheduled runs: each due tick of a pipeline's cron becomes exactly one run.

Exactly once even with several schedulers running: a tick's run carries the idempotency
key `schedule:<tick>`, and (pipeline, idempotency key) is unique in the database, so a
second scheduler's insert of the same tick fails and is skipped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app.db import session_scope
from app.models.pipeline import Pipeline
from app.models.run import Run
from app.scheduling import ticks_between
from app.services import runs as run_service

if TYPE_CHECKING:
    from datetime import datetime

    from app.config import Settings
    from app.services.run_events import StoredEvent


@dataclass(frozen=True)
class Scheduled:
    run: Run
    events: list[StoredEvent]


def schedule_key(tick: datetime) -> str:
    return f"schedule:{tick.isoformat()}"


async def _due(settings: Settings, now: datetime) -> list[tuple[Pipeline, list[datetime]]]:
    async with session_scope(settings) as session:
        pipelines = (
            await session.exec(
                select(Pipeline).where(
                    col(Pipeline.schedule).is_not(None), col(Pipeline.deleted_at).is_(None)
                )
            )
        ).all()
        due: list[tuple[Pipeline, list[datetime]]] = []
        for pipeline in pipelines:
            last = (
                await session.exec(
                    select(func.max(col(Run.scheduled_for))).where(
                        Run.pipeline_id == pipeline.id,
                        col(Run.idempotency_key).startswith("schedule:"),
                    )
                )
            ).one()
            since = last or pipeline.created_at
            assert pipeline.schedule is not None
            ticks = ticks_between(pipeline.schedule, pipeline.timezone, since, now)
            # After downtime, catch up only the most recent few missed ticks.
            due.append((pipeline, ticks[-settings.schedule_catchup :] if ticks else []))
        return due


async def _insert(settings: Settings, pipeline: Pipeline, tick: datetime) -> Scheduled | None:
    try:
        async with session_scope(settings) as session:
            triggered = await run_service.trigger(
                session=session,
                pipeline_id=pipeline.id,
                actor=None,
                idempotency_key=schedule_key(tick),
                params={"scheduled_for": tick.isoformat()},
                scheduled_for=tick,
            )
    except IntegrityError:
        return None  # another scheduler inserted this tick first
    return Scheduled(triggered.run, triggered.events) if triggered.created else None


async def enqueue_due(settings: Settings, now: datetime) -> list[Scheduled]:
    """Insert a run for each due tick of every scheduled pipeline; returns the new ones."""
    if settings.schedule_catchup == 0:
        return []
    created: list[Scheduled] = []
    for pipeline, ticks in await _due(settings, now):
        for tick in ticks:
            scheduled = await _insert(settings, pipeline, tick)
            if scheduled is not None:
                created.append(scheduled)
    return created
