"""The engine end to end on DuckDB: the rows a user finds, the events they watch."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.errors import ExpressionInvalid, SourceMalformed, TransformFailed
from app.etl import engine
from app.etl.engine import LoadResult, run_pipeline
from app.etl.errors import SchemaMismatch
from app.etl.sample import write_orders_csv
from app.etl.sources import csv as csv_source
from app.etl.sources import parse_source
from app.etl.sources.csv import iter_csv_batches
from app.etl.sources.policy import SourcePolicy
from app.etl.spec import parse_spec
from app.etl.warehouse import open_warehouse
from tests.unit.etl import warehouse_contract as contract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from app.etl.sources import SourceConfig
    from app.etl.warehouse import Mode, TableLoad, Warehouse

Event = tuple[str, str, dict[str, Any]]
ORDERS_STEPS = [
    {"filter": "status <> 'cancelled'"},
    {"derive": {"revenue": "quantity * unit_price * (1 - discount)"}},
]


class Events:
    def __init__(self) -> None:
        self.seen: list[Event] = []

    async def __call__(self, kind: str, stage: str, payload: dict[str, Any]) -> None:
        self.seen.append((kind, stage, payload))


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[Warehouse]:
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    yield warehouse
    await warehouse.close()


def orders_source(tmp_path: Path, rows: int) -> SourceConfig:
    path = write_orders_csv(tmp_path / "orders.csv", rows, seed=3)
    return parse_source("csv", str(path), {}, SourcePolicy((tmp_path,)))


def expected_orders(source: SourceConfig) -> pl.DataFrame:
    """The same transformation, computed independently with plain Polars expressions."""
    return (
        pl.read_csv(source.path, try_parse_dates=True)
        .filter(pl.col("status") != "cancelled")
        .with_columns(revenue=pl.col("quantity") * pl.col("unit_price") * (1 - pl.col("discount")))
    )


async def run(
    source: SourceConfig, warehouse: Warehouse, spec: dict[str, Any], batch_rows: int, emit: Any
) -> LoadResult:
    return await run_pipeline(
        source=source,
        spec=parse_spec(spec),
        warehouse=warehouse,
        run_id="run-1",
        emit=emit,
        batch_rows=batch_rows,
    )


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
    )
    assert events.seen[:3] == [
        ("stage_started", "extract", {}),
        ("stage_started", "transform", {}),
        ("stage_started", "load", {"table": "orders_clean", "mode": "replace"}),
    ]
    progress = [payload for kind, _, payload in events.seen if kind == "progress"]
    assert len(progress) >= 4  # 1,000 rows in batches of at most 300
    assert [p["batches"] for p in progress] == list(range(1, len(progress) + 1))
    assert progress[-1] == {
        "rows_read": 1_000,
        "rows_written": expected.height,
        "rows_filtered": 1_000 - expected.height,
        "batches": len(progress),
    }
    assert all(p["rows_read"] == p["rows_written"] + p["rows_filtered"] for p in progress)
    assert events.seen[3 + len(progress) :] == [
        ("stage_finished", "extract", {"rows_read": 1_000}),
        ("stage_finished", "transform", {"rows_filtered": 1_000 - expected.height}),
        ("stage_finished", "load", {"rows_written": expected.height}),
    ]


async def test_append_runs_accumulate(tmp_path: Path, warehouse: Warehouse) -> None:
    source = orders_source(tmp_path, 200)
    spec = {"steps": ORDERS_STEPS, "destination": {"table": "orders_all"}}
    await run(source, warehouse, spec, 64, Events())
    await run(source, warehouse, spec, 64, Events())
    expected = expected_orders(source)
    assert (await warehouse.read_table("orders_all")).height == 2 * expected.height


async def test_a_malformed_row_in_a_later_batch_leaves_the_table_unchanged(
    tmp_path: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small type-inference sample, as a big file would have: the bad row is found late.
    monkeypatch.setattr(csv_source, "SAMPLE_BYTES", 1024)
    await contract.load(warehouse, "guarded", "append", contract.orders(range(5)))
    lines = [f"{i},order {i},{i * 1.5}" for i in range(5, 2_000)]
    lines[1_500] = "1505,order 1505,2257.5,unexpected"  # line 1502 of the file
    path = tmp_path / "late.csv"
    path.write_text("id,name,amount\n" + "\n".join(lines) + "\n")
    source = parse_source("csv", str(path), {}, SourcePolicy((tmp_path,)))
    events = Events()
    spec = {"steps": [], "destination": {"table": "guarded"}}

    with pytest.raises(SourceMalformed) as raised:
        await run(source, warehouse, spec, 50, events)

    assert raised.value.code == "SOURCE_MALFORMED"
    assert "line 1502" in raised.value.message
    assert_frame_equal(await contract.rows(warehouse, "guarded"), contract.orders(range(5)))
    assert any(kind == "progress" for kind, _, _ in events.seen)  # it failed mid-stream
    assert not any(kind == "stage_finished" for kind, _, _ in events.seen)


async def test_a_runtime_transform_error_leaves_the_table_unchanged(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    await contract.load(warehouse, "codes", "append", pl.DataFrame({"code": ["1"], "n": [1]}))
    path = tmp_path / "codes.csv"
    path.write_text("code,n\n" + "".join(f"{i},{i}\n" for i in range(300)) + "abc,300\n")
    source = parse_source("csv", str(path), {}, SourcePolicy((tmp_path,)))
    spec = {
        "steps": [{"derive": {"n": "CAST(code AS INTEGER)"}}],
        "destination": {"table": "codes"},
    }

    with pytest.raises(TransformFailed) as raised:
        await run(source, warehouse, spec, 100, Events())

    assert raised.value.path == ["steps", "0", "derive"]
    assert (await warehouse.read_table("codes")).to_dicts() == [{"code": "1", "n": 1}]


async def test_an_unknown_column_fails_before_anything_loads(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    source = orders_source(tmp_path, 10)
    spec = {"steps": [{"filter": "stat = 'paid'"}], "destination": {"table": "never"}}
    with pytest.raises(ExpressionInvalid) as raised:
        await run(source, warehouse, spec, 100, Events())
    assert "`stat`" in raised.value.message
    assert not await warehouse.table_exists("never")


async def test_a_source_with_only_a_header_creates_an_empty_table(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("quantity,unit_price\n")
    source = parse_source("csv", str(path), {}, SourcePolicy((tmp_path,)))
    spec = {
        "steps": [{"derive": {"total": "quantity || unit_price"}}],
        "destination": {"table": "e"},
    }

    result = await run(source, warehouse, spec, 100, Events())

    assert result == LoadResult(rows_read=0, rows_written=0, rows_rejected=0, rows_filtered=0)
    assert (await warehouse.read_table("e")).columns == ["quantity", "unit_price", "total"]


async def test_a_failing_event_sink_aborts_the_load(tmp_path: Path, warehouse: Warehouse) -> None:
    source = orders_source(tmp_path, 500)
    spec = {"steps": ORDERS_STEPS, "destination": {"table": "watched"}}

    async def sink(kind: str, stage: str, payload: dict[str, Any]) -> None:
        del stage, payload
        if kind == "progress":
            raise RuntimeError("event store is down")

    with pytest.raises(RuntimeError, match="event store is down"):
        await run(source, warehouse, spec, 100, sink)
    assert not await warehouse.table_exists("watched")


async def test_reading_stays_a_bounded_distance_ahead_of_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a warehouse that stalls, the reader stops after a few batches: memory is bounded."""
    read = 0

    def counted(*args: Any, **kwargs: Any) -> Iterator[pl.DataFrame]:
        nonlocal read
        for batch in iter_csv_batches(*args, **kwargs):
            read += 1
            yield batch

    monkeypatch.setattr(engine, "iter_csv_batches", counted)
    stalled = StalledWarehouse()
    source = orders_source(tmp_path, 2_000)
    spec = {"steps": ORDERS_STEPS, "destination": {"table": "slow"}}
    task = asyncio.create_task(run(source, stalled, spec, 50, Events()))
    await asyncio.wait_for(stalled.writing.wait(), 10)
    await asyncio.sleep(0.5)  # time for a runaway reader to read far ahead
    assert read <= engine.QUEUE_DEPTH + 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stalled.aborted


async def test_a_failing_abort_keeps_the_error_that_caused_it(tmp_path: Path) -> None:
    warehouse = StalledWarehouse(write_error=SchemaMismatch("cannot append"), abort_error=True)
    source = orders_source(tmp_path, 10)
    spec = {"steps": ORDERS_STEPS, "destination": {"table": "t"}}
    with pytest.raises(SchemaMismatch):
        await run(source, warehouse, spec, 100, Events())
    assert warehouse.aborted


class StalledWarehouse:
    """A warehouse (and its one load) whose first write never finishes, or fails."""

    def __init__(self, write_error: Exception | None = None, *, abort_error: bool = False) -> None:
        self.writing = asyncio.Event()
        self.aborted = False
        self.write_error = write_error
        self.abort_error = abort_error

    async def begin_load(self, *, table: str, mode: Mode, run_id: str) -> TableLoad:
        del table, mode, run_id
        return self

    async def read_table(self, table: str) -> pl.DataFrame:
        raise NotImplementedError

    async def table_exists(self, table: str) -> bool:
        raise NotImplementedError

    async def ping(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def write(self, batch: pl.DataFrame) -> None:
        del batch
        self.writing.set()
        if self.write_error:
            raise self.write_error
        await asyncio.Event().wait()

    async def commit(self) -> None:
        raise AssertionError("never reached")

    async def abort(self) -> None:
        self.aborted = True
        if self.abort_error:
            raise RuntimeError("the connection is gone")
