"""The engine end to end on DuckDB: the rows a user finds, the events they watch."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.errors import (
    ExpressionInvalid,
    SourceMalformed,
    TransformFailed,
    WarehouseError,
    WarehouseUnavailable,
)
from app.etl import engine
from app.etl.engine import LoadResult
from app.etl.errors import ContractViolation, SourceChanged
from app.etl.sources.files import csv as csv_module
from app.etl.sources.reader import open_reader
from app.etl.warehouse import open_warehouse
from tests.unit.etl import warehouse_contract as contract
from tests.unit.etl.engine_helpers import (
    ORDERS_STEPS,
    Events,
    csv_source,
    expected_orders,
    orders_source,
    run,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from pathlib import Path

    from app.etl.warehouse import BatchStats, LoadOptions, LoadTotals, Mode, Warehouse
    from app.etl.warehouse.row_reads import RowsRead
    from app.event_types import Event


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[Warehouse]:
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    yield warehouse
    await warehouse.close()


async def test_orders_load_the_expected_rows_and_events(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    source, events = orders_source(tmp_path, 1_000), Events()
    spec = {"steps": ORDERS_STEPS, "destination": {"table": "orders_clean", "mode": "replace"}}

    result = await run(source, warehouse, spec, 300, events)

    expected = expected_orders(source)
    loaded = (await warehouse.read_table("orders_clean")).sort("order_id")
    assert_frame_equal(loaded, expected)
    assert result == LoadResult(
        rows_read=1_000,
        rows_written=expected.height,
        rows_rejected=0,
        rows_filtered=1_000 - expected.height,
        batches=4,
    )
    assert events.seen[:3] == [
        ("stage_started", "extract", {}),
        ("stage_started", "transform", {}),
        ("stage_started", "load", {"table": "orders_clean", "mode": "replace"}),
    ]
    progress = events.progress()
    assert len(progress) == 4  # 1,000 rows in batches of at most 300
    assert [p["batches"] for p in progress] == [1, 2, 3, 4]
    assert progress[-1] == {
        "rows_read": 1_000,
        "rows_written": expected.height,
        "rows_rejected": 0,
        "rows_filtered": 1_000 - expected.height,
        "batches": 4,
        "batches_resumed": 0,
    }
    assert all(
        p["rows_read"] == p["rows_written"] + p["rows_rejected"] + p["rows_filtered"]
        for p in progress
    )
    assert events.seen[3 + len(progress) :] == [
        ("stage_finished", "extract", {"rows_read": 1_000}),
        (
            "stage_finished",
            "transform",
            {"rows_filtered": 1_000 - expected.height, "rows_rejected": 0},
        ),
        ("stage_finished", "load", {"rows_written": expected.height}),
    ]


async def test_append_runs_accumulate(tmp_path: Path, warehouse: Warehouse) -> None:
    source = orders_source(tmp_path, 200)
    spec = {"steps": ORDERS_STEPS, "destination": {"table": "orders_all"}}
    await run(source, warehouse, spec, 64, run_id="first")
    await run(source, warehouse, spec, 64, run_id="second")
    expected = expected_orders(source)
    assert (await warehouse.read_table("orders_all")).height == 2 * expected.height


async def test_the_same_run_delivered_twice_loads_once(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    source = orders_source(tmp_path, 200)
    spec = {"steps": ORDERS_STEPS, "destination": {"table": "orders_once"}}
    first = await run(source, warehouse, spec, 64, run_id="run-1")
    again = await run(source, warehouse, spec, 64, run_id="run-1", attempt=2)
    assert again == first
    assert (await warehouse.read_table("orders_once")).height == expected_orders(source).height


async def test_a_malformed_row_in_a_later_batch_leaves_the_table_unchanged(
    tmp_path: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small type-inference sample, as a big file would have: the bad row is found late.
    monkeypatch.setattr(csv_module, "SAMPLE_BYTES", 1024)
    await contract.load(warehouse, "guarded", "append", contract.orders(range(5)))
    lines = [f"{i},order {i},{i * 1.5}" for i in range(5, 2_000)]
    lines[1_500] = "1505,order 1505,2257.5,unexpected"  # line 1502 of the file
    source = csv_source(tmp_path, "late.csv", "id,name,amount\n" + "\n".join(lines) + "\n")
    events = Events()
    spec = {"steps": [], "destination": {"table": "guarded"}}

    with pytest.raises(SourceMalformed) as raised:
        await run(source, warehouse, spec, 50, events, run_id="late")

    assert raised.value.code == "SOURCE_MALFORMED"
    assert "line 1502" in raised.value.message
    assert_frame_equal(await contract.rows(warehouse, "guarded"), contract.orders(range(5)))
    assert events.progress()  # it failed mid-stream
    assert not any(kind == "stage_finished" for kind, _, _ in events.seen)
    # Terminal: nothing of the run is kept to resume from.
    resumed = await warehouse.begin_load(table="guarded", mode="append", run_id="late")
    assert not resumed.committed
    await resumed.abort()


async def test_a_runtime_transform_error_leaves_the_table_unchanged(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    await contract.load(warehouse, "codes", "append", pl.DataFrame({"code": ["1"], "n": [1]}))
    text = "code,n\n" + "".join(f"{i},{i}\n" for i in range(300)) + "abc,300\n"
    source = csv_source(tmp_path, "codes.csv", text)
    spec = {
        "steps": [{"derive": {"n": "CAST(code AS INTEGER)"}}],
        "destination": {"table": "codes"},
    }

    with pytest.raises(TransformFailed) as raised:
        await run(source, warehouse, spec, 100)

    assert raised.value.path == ["steps", "0", "derive"]
    assert (await warehouse.read_table("codes")).to_dicts() == [{"code": "1", "n": 1}]


async def test_an_unknown_column_fails_before_anything_loads(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    source = orders_source(tmp_path, 10)
    spec = {"steps": [{"filter": "stat = 'paid'"}], "destination": {"table": "never"}}
    with pytest.raises(ExpressionInvalid) as raised:
        await run(source, warehouse, spec, 100)
    assert "`stat`" in raised.value.message
    assert not await warehouse.table_exists("never")


async def test_a_source_with_only_a_header_creates_an_empty_table(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    source = csv_source(tmp_path, "empty.csv", "quantity,unit_price\n")
    spec = {
        "steps": [{"derive": {"total": "quantity || unit_price"}}],
        "destination": {"table": "e"},
    }

    result = await run(source, warehouse, spec, 100)

    assert result == LoadResult(batches=1)
    assert (await warehouse.read_table("e")).columns == ["quantity", "unit_price", "total"]


async def test_a_failing_event_sink_aborts_the_load(tmp_path: Path, warehouse: Warehouse) -> None:
    source = orders_source(tmp_path, 500)
    spec = {"steps": ORDERS_STEPS, "destination": {"table": "watched"}}

    async def sink(event: Event) -> None:
        if event.kind == "progress":
            raise RuntimeError("event store is down")

    with pytest.raises(RuntimeError, match="event store is down"):
        await run(source, warehouse, spec, 100, sink)
    assert not await warehouse.table_exists("watched")


async def test_a_transient_failure_keeps_progress_and_the_retry_resumes(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    """The retry (same run, next attempt) skips the batches already committed and ends
    with every row exactly once."""
    source = orders_source(tmp_path, 1_000)
    spec = {"steps": ORDERS_STEPS, "destination": {"table": "resumed"}}
    await contract.load(warehouse, "resumed", "append", expected_orders(source).head(0))
    calls = 0

    async def flaky(event: Event) -> None:
        nonlocal calls
        calls += event.kind == "progress"
        if calls == 5:
            raise WarehouseUnavailable("connection reset")

    with pytest.raises(WarehouseUnavailable):
        await run(source, warehouse, spec, 100, flaky, run_id="flaky")
    assert (await warehouse.read_table("resumed")).height == 0

    events = Events()
    result = await run(source, warehouse, spec, 100, events, run_id="flaky", attempt=2)

    loaded = (await warehouse.read_table("resumed")).sort("order_id")
    assert_frame_equal(loaded, expected_orders(source))
    assert result.batches_resumed >= 4
    assert result.rows_read == 1_000
    assert events.progress()[0]["batches_resumed"] == 1


async def test_a_typed_error_caused_by_a_lost_connection_keeps_progress_by_default(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    """Without a retry predicate of its own, a run judges its failure as the runner does
    (`app.faults.is_transient`): a terminal error whose cause is a lost connection is
    transient, so the batches committed so far stay for the next attempt to resume."""
    source = orders_source(tmp_path, 1_000)
    spec = {"steps": ORDERS_STEPS, "destination": {"table": "kept"}}
    calls = 0

    async def connection_lost(event: Event) -> None:
        nonlocal calls
        calls += event.kind == "progress"
        if calls == 5:
            try:
                raise ConnectionResetError("connection reset by peer")
            except ConnectionResetError as lost:
                raise WarehouseError("cannot load batch 5 into kept") from lost

    with pytest.raises(WarehouseError):
        await run(source, warehouse, spec, 100, connection_lost, run_id="lost")

    result = await run(source, warehouse, spec, 100, run_id="lost", attempt=2)
    assert result.batches_resumed >= 4
    assert_frame_equal(
        (await warehouse.read_table("kept")).sort("order_id"), expected_orders(source)
    )


async def test_a_resumed_run_whose_source_changed_fails_cleanly(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    source = orders_source(tmp_path, 500)
    spec = {"steps": [], "destination": {"table": "changing"}}

    async def fail_late(event: Event) -> None:
        if event.kind == "progress" and event.to_payload()["batches"] == 3:
            raise WarehouseUnavailable("connection reset")

    with pytest.raises(WarehouseUnavailable):
        await run(source, warehouse, spec, 100, fail_late, run_id="changing")
    orders_source(tmp_path, 500, seed=4)  # the file is rewritten: as many rows, others
    with pytest.raises(SourceChanged):
        await run(source, warehouse, spec, 100, run_id="changing", attempt=2)
    assert not await warehouse.table_exists("changing")


async def test_reading_stays_a_bounded_distance_ahead_of_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a warehouse that stalls, the reader stops after a few batches: memory is bounded."""
    read = 0

    def counted(*args: Any) -> Any:
        reader = open_reader(*args)
        batches = reader.batches

        async def counting(batch_rows: int) -> AsyncIterator[pl.DataFrame]:
            nonlocal read
            async for batch in batches(batch_rows):
                read += 1
                yield batch

        reader.batches = counting  # type: ignore[method-assign]
        return reader

    monkeypatch.setattr(engine, "open_reader", counted)
    stalled = StalledWarehouse()
    source = orders_source(tmp_path, 2_000)
    spec = {"steps": ORDERS_STEPS, "destination": {"table": "slow"}}
    task = asyncio.create_task(run(source, stalled, spec, 50))
    await asyncio.wait_for(stalled.writing.wait(), 10)
    await asyncio.sleep(0.5)  # time for a runaway reader to read far ahead
    assert read <= engine.QUEUE_DEPTH + 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stalled.aborted


async def test_a_failing_abort_keeps_the_error_that_caused_it(tmp_path: Path) -> None:
    warehouse = StalledWarehouse(write_error=ContractViolation("frozen"), abort_error=True)
    source = orders_source(tmp_path, 10)
    spec = {"steps": ORDERS_STEPS, "destination": {"table": "t"}}
    with pytest.raises(ContractViolation):
        await run(source, warehouse, spec, 100)
    assert warehouse.aborted


class StalledWarehouse:
    """A warehouse (and its one load) whose first write never finishes, or fails."""

    def __init__(self, write_error: Exception | None = None, *, abort_error: bool = False) -> None:
        self.writing = asyncio.Event()
        self.aborted = False
        self.write_error = write_error
        self.abort_error = abort_error
        self.committed: dict[int, BatchStats] = {}
        self.applied: LoadTotals | None = None
        self.watermark = None

    async def begin_load(
        self, *, table: str, mode: Mode, run_id: str, options: LoadOptions | None = None
    ) -> StalledWarehouse:
        del table, mode, run_id, options
        return self

    async def discard_run(self, run_id: str, *, attempt: int) -> None:
        raise NotImplementedError

    async def read_table(self, table: str) -> pl.DataFrame:
        raise NotImplementedError

    async def read_rejects(self, run_id: str) -> pl.DataFrame:
        raise NotImplementedError

    async def read_rows(self, table: str, **_: Any) -> RowsRead:
        raise NotImplementedError

    async def read_rejects_page(self, run_id: str, **_: Any) -> pl.DataFrame:
        raise NotImplementedError

    async def forget_runs(self, run_ids: Sequence[str]) -> int:
        raise NotImplementedError

    async def table_exists(self, table: str) -> bool:
        raise NotImplementedError

    async def ping(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def write(self, batch: pl.DataFrame) -> None:
        raise NotImplementedError

    async def write_batch(self, number: int, batch: pl.DataFrame, **kwargs: Any) -> None:
        del number, batch, kwargs
        self.writing.set()
        if self.write_error:
            raise self.write_error
        await asyncio.Event().wait()

    async def commit(self) -> LoadTotals:
        raise AssertionError("never reached")

    async def suspend(self) -> None:
        raise AssertionError("only transient failures suspend")

    async def abort(self, *, keep_rejects: bool = False) -> None:
        del keep_rejects
        self.aborted = True
        if self.abort_error:
            raise RuntimeError("the connection is gone")
