"""The actor that executes a pipeline run; the logic lives in `app.runner`."""

from __future__ import annotations

import asyncio

import dramatiq

from actors.broker import current_settings, register, worker_id
from app.runner import execute_run as execute

# Retries are the run's own business (attempts, fencing, backoff): Dramatiq must not
# redeliver a failed message on its own schedule. Each run has its own timeout inside.
RUN_TIME_LIMIT_MS = 7 * 24 * 60 * 60 * 1000


@register
@dramatiq.actor(queue_name="runs", max_retries=0, time_limit=RUN_TIME_LIMIT_MS)
async def execute_run(run_id: str) -> None:
    await execute(
        settings=current_settings(), run_id=run_id, worker_id=worker_id(), enqueue=enqueue_run
    )


async def enqueue_run(run_id: str, delay_seconds: float = 0.0) -> None:
    """Send the run to a worker, now or after a delay (a retry's backoff, a busy slot)."""
    delay = int(delay_seconds * 1000) or None
    await asyncio.to_thread(execute_run.send_with_options, args=(run_id,), delay=delay)
