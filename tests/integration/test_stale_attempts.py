"""A worker that lost its run changes nothing, not even by cleaning up after itself.

Attempt 1 loses its lease; attempt 2 takes the run over and stages batches; attempt 1
then fails. Its failure handling (the runner's, as a real worker runs it) must leave
attempt 2's staging and ledger alone, so attempt 2 completes with every row once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
import pytest
from sqlmodel import col, update

from app.db import session_scope
from app.errors import SpecInvalid
from app.etl.warehouse import LoadOptions, open_warehouse
from app.models.run import Run, RunStatus
from app.runner import RunRecorder, _failed
from app.services import leases
from app.services import runs as run_service
from tests import factories

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings

pytestmark = pytest.mark.integration


def orders(ids: range) -> pl.DataFrame:
    return pl.DataFrame({"order_id": list(ids), "quantity": [i % 5 + 1 for i in ids]})


async def _claim(settings: Settings, run_id: str, worker: str) -> Run:
    async with session_scope(settings) as session:
        claim = await leases.claim(
            session=session, settings=settings, run_id=run_id, worker_id=worker
        )
    assert claim.run is not None
    return claim.run


async def _lose_lease(settings: Settings, run: Run) -> None:
    """What the reaper does to a run whose lease expired: its next attempt, queued now."""
    async with session_scope(settings) as session:
        again = await leases.requeue(
            session=session,
            settings=settings,
            run_id=run.id,
            attempt=run.attempt,
            error_code="WORKER_LOST",
            error_message="lease expired",
        )
        assert again is not None
        await session.exec(update(Run).where(col(Run.id) == run.id).values(not_before=None))


async def _not_enqueued(run_id: str, delay: float) -> None:
    raise AssertionError(f"a stale attempt must not enqueue run {run_id} ({delay} s)")


async def test_a_stale_attempts_failure_leaves_the_new_attempts_staging_postgres(
    service_settings: Settings, tmp_path: Path
) -> None:
    await _stale_attempt_fails_while_the_new_one_loads(service_settings, tmp_path)


async def test_a_stale_attempts_failure_leaves_the_new_attempts_staging_duckdb(
    embedded_settings: Settings, tmp_path: Path
) -> None:
    await _stale_attempt_fails_while_the_new_one_loads(embedded_settings, tmp_path)


async def _stale_attempt_fails_while_the_new_one_loads(settings: Settings, tmp_path: Path) -> None:
    table = factories.unique("stale")
    source = await factories.make_source(
        settings, factories.write_csv(tmp_path, factories.orders_rows(1))
    )
    pipeline = await factories.make_pipeline(
        settings, source, factories.orders_spec(table, "append")
    )
    async with session_scope(settings) as session:
        triggered = await run_service.trigger(session=session, pipeline_id=pipeline.id, actor=None)
    run_id = triggered.run.id
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        first = await _claim(settings, run_id, "worker-1")
        old = await warehouse.begin_load(
            table=table, mode="append", run_id=run_id, options=LoadOptions(attempt=1)
        )
        await old.write_batch(0, orders(range(0, 3)))
        await old.suspend()

        await _lose_lease(settings, first)
        second = await _claim(settings, run_id, "worker-2")
        assert second.attempt == 2
        new = await warehouse.begin_load(
            table=table, mode="append", run_id=run_id, options=LoadOptions(attempt=2)
        )
        await new.write_batch(0, orders(range(0, 3)))
        await new.write_batch(1, orders(range(3, 6)))
        await new.suspend()  # between batches, holding no lock

        # Attempt 1 wakes up and fails terminally: it must neither end the run nor
        # clean up what is attempt 2's now.
        error = SpecInvalid("attempt 1 failed after losing its lease")
        outcome = await _failed(RunRecorder(settings, first), first, 3, error, _not_enqueued)
        assert outcome is None
        async with session_scope(settings) as session:
            run = await run_service.get(session=session, run_id=run_id)
        assert (run.status, run.attempt) == (RunStatus.RUNNING, 2)

        resumed = await warehouse.begin_load(
            table=table, mode="append", run_id=run_id, options=LoadOptions(attempt=2)
        )
        assert sorted(resumed.committed) == [0, 1]
        await resumed.write_batch(2, orders(range(6, 9)))
        totals = await resumed.commit()
        loaded = (await warehouse.read_table(table)).sort("order_id")
    finally:
        await warehouse.close()
    assert totals.rows_written == 9
    assert loaded["order_id"].to_list() == list(range(9))
