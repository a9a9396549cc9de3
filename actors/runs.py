"""The actor that executes a pipeline run; the logic lives in `app.runner`."""

from __future__ import annotations

import dramatiq

from actors.broker import current_settings, register, worker_id
from app.runner import execute_run as execute

# Retries are the run's own business (attempts, fencing): Dramatiq must not redeliver
# a failed message on its own schedule.
RUN_TIME_LIMIT_MS = 6 * 60 * 60 * 1000


@register
@dramatiq.actor(queue_name="runs", max_retries=0, time_limit=RUN_TIME_LIMIT_MS)
async def execute_run(run_id: str) -> None:
    await execute(
        settings=current_settings(),
        run_id=run_id,
        worker_id=worker_id(),
    )
