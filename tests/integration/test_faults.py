"""Fault injection on the production backends (PostgreSQL, Redis, real worker
processes): killed workers, a restarted broker, dropped database connections, poison
runs, racing schedulers and cancels. Each test is bounded in time."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg
import pytest

from app.db import session_scope
from app.etl.sources.policy import SourcePolicy
from app.models.base import utcnow
from app.models.pipeline import PipelineCreate
from app.models.run import RunStatus
from app.services import pipelines as pipeline_service
from app.services import runs as run_service
from app.services import schedules as schedule_service
from tests import factories
from tests.integration import faults
from tests.integration.fanout import own_redis as own_redis_server
from tests.workers import start_worker, stop_worker

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from app.config import Settings
    from app.models.run import Run

pytestmark = pytest.mark.integration

KILL_TRIALS = 10


def expected_ids(rows: int) -> list[int]:
    return [i for i in range(1, rows + 1) if i % 4 != 0]  # factories: every 4th cancelled


async def make_pipeline(
    settings: Settings,
    tmp_path: Path,
    rows: int,
    table: str,
    mode: str = "append",
    **operations: object,
) -> str:
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(rows))
    source = await factories.make_source(settings, csv_path)
    data = PipelineCreate(
        name=factories.unique("pipe"),
        source_id=source.id,
        spec=factories.orders_spec(table, mode),
        **operations,  # type: ignore[arg-type]
    )
    async with session_scope(settings) as session:
        pipeline = await pipeline_service.create(
            session=session, data=data, actor=None, policy=SourcePolicy.from_settings(settings)
        )
    return pipeline.id


async def trigger(settings: Settings, pipeline_id: str) -> str:
    from actors.runs import enqueue_run

    async with session_scope(settings) as session:
        triggered = await run_service.trigger(session=session, pipeline_id=pipeline_id, actor=None)
    await enqueue_run(triggered.run.id)
    return triggered.run.id


def read_or_ended(rows: int) -> Callable[[Run], bool]:
    """A `wait_for` condition: the run has read `rows` rows, or it has ended."""

    def done(run: Run) -> bool:
        return run.rows_read >= rows or run.status.is_terminal

    return done


@pytest.fixture
def settings(service_settings: Settings) -> Settings:
    return faults.fast_settings(service_settings)


async def test_sigkill_a_worker_mid_load_ten_times(settings: Settings, tmp_path: Path) -> None:
    rows = 40_000  # 40 batches of 1000
    log = tmp_path / "workers.log"
    workers = [start_worker(settings, log), start_worker(settings, log)]
    outcomes: list[tuple[int, int, int, int]] = []
    try:
        async with faults.reaper_running(settings):
            for trial in range(KILL_TRIALS):
                table = f"killed_{trial}"
                pipeline = await make_pipeline(settings, tmp_path, rows, table)
                run_id = await trigger(settings, pipeline)
                at_batch = random.randint(1, 30)
                run = await faults.wait_for(settings, run_id, read_or_ended(at_batch * 1000))
                assert run.status is RunStatus.RUNNING, "the run ended before the kill"
                assert run.worker_id is not None
                os.kill(int(run.worker_id.split(":")[1]), signal.SIGKILL)
                done = await faults.wait_for_end(settings, run_id)
                found = await faults.order_ids(settings, table)
                outcomes.append((trial, at_batch, len(expected_ids(rows)), len(found)))
                assert done.status is RunStatus.SUCCEEDED, (done.error_code, done.error_message)
                assert done.attempt >= 2
                assert found == expected_ids(rows)  # none missing, none twice
                # Keep two live workers for the next trial.
                workers = [w for w in workers if w.poll() is None]
                while len(workers) < 2:
                    workers.append(start_worker(settings, log))
    finally:
        for worker in workers:
            stop_worker(worker)
        print("\nSIGKILL trials (trial, killed at batch, expected rows, found rows):", outcomes)


@pytest.fixture
def own_redis() -> Iterator[tuple[str, Callable[[], None]]]:
    """A Redis server of this test's own, so restarting it disturbs nothing else."""
    with own_redis_server() as server:

        def restart() -> None:
            server.stop()
            server.start()

        yield server.url, restart


async def test_restart_redis_during_a_run(
    settings: Settings, own_redis: tuple[str, Callable[[], None]], tmp_path: Path
) -> None:
    url, restart = own_redis
    settings = settings.model_copy(update={"redis_url": url})
    rows = 30_000
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        async with faults.reaper_running(settings):
            first = await trigger(
                settings, await make_pipeline(settings, tmp_path, rows, "redis_a")
            )
            second = await trigger(
                settings, await make_pipeline(settings, tmp_path, rows, "redis_b")
            )
            await faults.wait_for(settings, first, lambda r: r.rows_read >= 5000)
            await asyncio.to_thread(restart)  # the queued second run's message is lost
            runs = [await faults.wait_for_end(settings, run_id) for run_id in (first, second)]
    finally:
        stop_worker(worker)
    for run, table in zip(runs, ("redis_a", "redis_b"), strict=True):
        assert run.status is RunStatus.SUCCEEDED, (run.error_code, run.error_message)
        assert await faults.order_ids(settings, table) == expected_ids(rows)
    print(
        "\nRedis restart: both runs",
        [r.status.value for r in runs],
        "attempts",
        [r.attempt for r in runs],
    )


async def test_terminate_the_workers_postgres_connections(
    settings: Settings, tmp_path: Path
) -> None:
    rows = 40_000
    assert settings.database_url
    database = settings.database_url.rsplit("/", 1)[1]
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        async with faults.reaper_running(settings):
            run_id = await trigger(
                settings, await make_pipeline(settings, tmp_path, rows, "pgkill")
            )
            await faults.wait_for(settings, run_id, lambda r: r.rows_read >= 10_000)
            admin = await asyncpg.connect(database=database, user="postgres", host="127.0.0.1")
            try:
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    database,
                )
            finally:
                await admin.close()
            done = await faults.wait_for_end(settings, run_id)
    finally:
        stop_worker(worker)
    assert killed > 0
    print((tmp_path / "worker.log").read_text())  # pytest shows it when the test fails
    assert done.status is RunStatus.SUCCEEDED, (done.error_code, done.error_message)
    assert done.attempt >= 2
    assert await faults.order_ids(settings, "pgkill") == expected_ids(rows)
    print(
        f"\npg_terminate_backend: {killed} connections killed; run ended on attempt "
        f"{done.attempt} with {done.rows_written} rows"
    )


async def test_a_poison_run_fails_after_its_attempts(settings: Settings, tmp_path: Path) -> None:
    # Loads to a PostgreSQL nobody listens on: every attempt fails transiently.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    poisoned = settings.model_copy(
        update={"warehouse_url": f"postgresql+asyncpg://postgres@127.0.0.1:{dead_port}/none"}
    )
    worker = start_worker(poisoned, tmp_path / "worker.log")
    try:
        async with faults.reaper_running(settings):
            pipeline = await make_pipeline(settings, tmp_path, 100, "poison", max_attempts=3)
            run_id = await trigger(settings, pipeline)
            done = await faults.wait_for_end(settings, run_id, timeout=60)
            await asyncio.sleep(2)  # nothing brings it back
            after = await faults.get_run(settings, run_id)
    finally:
        stop_worker(worker)
    assert done.status is RunStatus.FAILED
    assert done.attempt == 3
    assert done.error_code == "WAREHOUSE_UNAVAILABLE"
    assert (after.status, after.attempt) == (RunStatus.FAILED, 3)


async def test_two_schedulers_enqueue_each_tick_once(settings: Settings, tmp_path: Path) -> None:
    pipeline_id = await make_pipeline(
        settings, tmp_path, 10, "scheduled", schedule="*/5 * * * *", timezone="Europe/Berlin"
    )
    async with session_scope(settings) as session:
        created = (await pipeline_service.get(session=session, pipeline_id=pipeline_id)).created_at
    # Ten ticks, with both schedulers sweeping at every one of them, at the same moment.
    first_tick = created.replace(second=0, microsecond=0) + timedelta(
        minutes=5 - created.minute % 5
    )
    made = 0
    for tick in range(10):
        now = first_tick + timedelta(minutes=5 * tick, seconds=1)
        sweeps = await asyncio.gather(
            schedule_service.enqueue_due(settings, now), schedule_service.enqueue_due(settings, now)
        )
        made += sum(len(sweep) for sweep in sweeps)
    async with session_scope(settings) as session:
        page = await run_service.list_page(
            session=session, first=200, where=run_service.RunFilter(pipeline_id=pipeline_id)
        )
    ticks = sorted(run.scheduled_for for run in page.items if run.scheduled_for)
    assert made == 10
    assert len(page.items) == 10
    assert ticks == [first_tick + timedelta(minutes=5 * i) for i in range(10)]
    print(f"\ntwo schedulers, 10 ticks: {made} runs enqueued, {len(page.items)} stored")


async def test_missed_ticks_are_caught_up_within_a_bound(
    settings: Settings, tmp_path: Path
) -> None:
    pipeline_id = await make_pipeline(settings, tmp_path, 10, "catchup", schedule="0 * * * *")
    later = utcnow() + timedelta(hours=10)  # the scheduler was down for ten hours
    made = await schedule_service.enqueue_due(settings, later)
    mine = [s.run for s in made if s.run.pipeline_id == pipeline_id]
    assert len(mine) == settings.schedule_catchup
    assert sorted(run.scheduled_for for run in mine if run.scheduled_for)[-1] <= later
    again = await schedule_service.enqueue_due(settings, later)
    assert [s for s in again if s.run.pipeline_id == pipeline_id] == []


async def test_cancel_during_a_replace_leaves_the_table(settings: Settings, tmp_path: Path) -> None:
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        async with faults.reaper_running(settings):
            seed = await make_pipeline(settings, tmp_path, 500, "replaced", "replace")
            await faults.wait_for_end(settings, await trigger(settings, seed))
            before = await faults.order_ids(settings, "replaced")
            big = await make_pipeline(settings, tmp_path, 60_000, "replaced", "replace")
            run_id = await trigger(settings, big)
            await faults.wait_for(settings, run_id, lambda r: r.rows_read >= 5000)
            async with session_scope(settings) as session:
                await run_service.cancel(session=session, run_id=run_id)
            done = await faults.wait_for_end(settings, run_id)
    finally:
        stop_worker(worker)
    assert done.status is RunStatus.CANCELLED
    assert before == expected_ids(500)
    assert await faults.order_ids(settings, "replaced") == before
