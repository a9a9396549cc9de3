"""Helpers for fault-injection tests: a run's rows in the warehouse, waiting on runs,
and a reaper running the way `dataflow scheduler` runs it."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import asyncpg

from actors import broker as broker_module
from actors.runs import enqueue_run
from app.db import session_scope
from app.faults import is_transient
from app.models.run import Run, RunStatus
from app.scheduler import run_forever
from app.services import runs as run_service

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from app.config import Settings


def fast_settings(settings: Settings, **changes: object) -> Settings:
    """Short leases and backoffs, small batches: faults show and heal within seconds."""
    defaults: dict[str, object] = {
        "etl_batch_rows": 1000,
        "run_progress_seconds": 0,  # every batch's progress: a cancel lands at the next
        "run_lease_seconds": 3,
        "retry_base_seconds": 0.2,
        "retry_max_seconds": 1,
        "scheduler_interval_seconds": 0.5,
    }
    return settings.model_copy(update={**defaults, **changes})


@asynccontextmanager
async def reaper_running(settings: Settings) -> AsyncIterator[None]:
    """The scheduler's loop (reaper included) in this process, enqueueing to Redis."""
    broker_module.configure(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(run_forever(settings, enqueue_run, stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def get_run(settings: Settings, run_id: str) -> Run:
    async with session_scope(settings) as session:
        return await run_service.get(session=session, run_id=run_id)


async def wait_for(
    settings: Settings, run_id: str, done: Callable[[Run], bool], timeout: float = 90
) -> Run:
    async with asyncio.timeout(timeout):
        while True:
            try:
                run = await get_run(settings, run_id)
            except Exception as error:
                # The tests kill this process's connections too (a restarted database
                # drops everyone's): a poll that lost its connection polls again.
                if not is_transient(error):
                    raise
            else:
                if done(run):
                    return run
            await asyncio.sleep(0.05)


async def wait_for_end(settings: Settings, run_id: str, timeout: float = 120) -> Run:
    return await wait_for(settings, run_id, lambda run: run.status.is_terminal, timeout)


def running(run: Run) -> bool:
    return run.status is RunStatus.RUNNING


async def order_ids(settings: Settings, table: str) -> list[int]:
    """The order ids in a warehouse table (PostgreSQL), duplicates included."""
    assert settings.database_url
    url = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    try:
        exists = await connection.fetchval("SELECT to_regclass($1)", f'warehouse."{table}"')
        if exists is None:
            return []
        rows = await connection.fetch(f'SELECT order_id FROM warehouse."{table}"')  # noqa: S608
        return sorted(row["order_id"] for row in rows)
    finally:
        await connection.close()
