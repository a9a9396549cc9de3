"""The scheduler process: fires due schedule ticks and runs the reaper, periodically.

Any number may run at once (for availability): a tick becomes a run exactly once, and
the reaper's writes are fenced like a worker's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from app.db import session_scope
from app.events import publish_changes
from app.models.base import utcnow
from app.runner import discard_staging
from app.services import reaper
from app.services import schedules as schedule_service

if TYPE_CHECKING:
    from app.config import Settings
    from app.runner import Enqueue

logger = logging.getLogger(__name__)


async def sweep(settings: Settings, enqueue: Enqueue) -> tuple[int, int]:
    """One pass: (runs scheduled, runs reaped or resent)."""
    scheduled = await schedule_service.enqueue_due(settings, utcnow())
    for item in scheduled:
        await publish_changes(settings, item.run, item.events)
        await enqueue(item.run.id, 0.0)
    async with session_scope(settings) as session:
        reaped = await reaper.reap(session=session, settings=settings)
    for run, events in reaped.changed:
        await publish_changes(settings, run, events)
        if run.status.is_terminal:
            await discard_staging(settings, run.id, run.attempt)
    for run_id in reaped.to_enqueue:
        await enqueue(run_id, 0.0)
    return len(scheduled), len(reaped.changed) + len(reaped.to_enqueue)


async def run_forever(settings: Settings, enqueue: Enqueue, stop: asyncio.Event) -> None:
    """Sweep every `scheduler_interval_seconds` until `stop` is set; a failed sweep is
    logged and the next one tries again (the database or broker may be restarting)."""
    while not stop.is_set():
        try:
            scheduled, reaped = await sweep(settings, enqueue)
            if scheduled or reaped:
                logger.info("scheduled %s runs, reaped or resent %s", scheduled, reaped)
        except Exception:
            logger.exception("scheduler sweep failed; trying again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.scheduler_interval_seconds)
