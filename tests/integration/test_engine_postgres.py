"""The engine into the real PostgreSQL warehouse: the rows land, or nothing does."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import asyncpg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.errors import SourceMalformed, WarehouseUnavailable
from app.etl.engine import RunContext, run_pipeline
from app.etl.sample import write_orders_csv
from app.etl.sources import parse_source
from app.etl.sources.files import csv as csv_module
from app.etl.sources.policy import SourcePolicy
from app.etl.spec import parse_spec
from app.etl.warehouse import open_warehouse
from tests.unit.etl import warehouse_contract as contract
from tests.unit.etl.engine_helpers import csv_source, run

if TYPE_CHECKING:
    from pathlib import Path

    from app.event_types import Event

pytestmark = pytest.mark.integration


async def ignore(event: Event) -> None:
    del event


async def test_orders_land_filtered_and_derived(tmp_path: Path, pg_url: str) -> None:
    path = write_orders_csv(tmp_path / "orders.csv", 3_000, seed=5)
    table = contract.unique_table("orders")
    spec = parse_spec(
        {
            "steps": [
                {"filter": "status <> 'cancelled'"},
                {"derive": {"revenue": "quantity * unit_price * (1 - discount)"}},
            ],
            "destination": {"table": table, "mode": "replace"},
        }
    )
    warehouse = open_warehouse(pg_url)
    result = await run_pipeline(
        RunContext(
            run_id="pg-run",
            spec=spec,
            source=parse_source("csv", str(path), {}, SourcePolicy((tmp_path,))),
            events=ignore,
            batch_rows=700,
        ),
        warehouse,
    )
    expected = (
        pl.read_csv(path, try_parse_dates=True)
        .filter(pl.col("status") != "cancelled")
        .with_columns(revenue=pl.col("quantity") * pl.col("unit_price") * (1 - pl.col("discount")))
    )
    loaded = (await warehouse.read_table(table)).sort("order_id")
    assert_frame_equal(loaded, expected)
    assert result.rows_written == expected.height


async def test_a_late_malformed_row_leaves_the_table_unchanged(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_module, "SAMPLE_BYTES", 1024)
    warehouse, table = open_warehouse(pg_url), contract.unique_table()
    await contract.load(warehouse, table, "append", contract.orders(range(5)))
    lines = [f"{i},order {i},{i * 1.5}" for i in range(5, 3_000)]
    lines[2_500] = "2505,order,1.0,extra"
    path = tmp_path / "late.csv"
    path.write_text("id,name,amount\n" + "\n".join(lines) + "\n")
    with pytest.raises(SourceMalformed) as raised:
        await run_pipeline(
            RunContext(
                run_id="pg-bad",
                spec=parse_spec({"destination": {"table": table}}),
                source=parse_source("csv", str(path), {}, SourcePolicy((tmp_path,))),
                events=ignore,
                batch_rows=100,
            ),
            warehouse,
        )
    assert "line 2502" in raised.value.message
    assert_frame_equal(await contract.rows(warehouse, table), contract.orders(range(5)))


async def test_rejects_merge_and_watermark_on_postgres(tmp_path: Path, pg_url: str) -> None:
    """Bad rows land in `_dataflow_rejects` (raw row as jsonb), the rest merges, and the
    next run takes only rows past the stored watermark."""
    warehouse, table = open_warehouse(pg_url), contract.unique_table("events")
    spec = {
        "destination": {"table": table, "mode": "merge", "keys": ["id"], "order_by": "at"},
        "incremental": {"cursor": "at"},
        "contract": {"columns": {"id": "Int64", "at": "Datetime", "qty": "Int32"}},
    }
    first = (
        "id,at,qty\n1,2024-05-01 10:00:00,1\n2,2024-05-02 10:00:00,two\n1,2024-05-01 11:00:00,5\n"
    )
    result = await run(
        csv_source(tmp_path, "e.csv", first, infer_types=False),
        warehouse,
        spec,
        run_id="pg-r1",
        pipeline_id="p",
    )
    assert (result.rows_written, result.rows_rejected) == (2, 1)
    assert (await warehouse.read_table(table)).select("id", "qty").rows() == [(1, 5)]
    rejects = await warehouse.read_rejects("pg-r1")
    assert rejects.select("source", "row_number", "reason").rows() == [
        ("e.csv", 3, "column `qty` expected Int32, got 'two'")
    ]
    assert rejects["raw"].str.json_decode().struct.field("qty").to_list() == ["two"]

    second = first + "3,2024-05-03 10:00:00,3\n1,2024-05-04 10:00:00,9\n"
    result = await run(
        csv_source(tmp_path, "e.csv", second, infer_types=False),
        warehouse,
        spec,
        run_id="pg-r2",
        pipeline_id="p",
    )
    assert result.rows_written == 2
    loaded = (await warehouse.read_table(table)).sort("id")
    assert loaded.select("id", "qty").rows() == [(1, 9), (3, 3)]


async def test_a_retried_run_on_postgres_resumes_without_duplicates(
    tmp_path: Path, pg_url: str
) -> None:
    warehouse, table = open_warehouse(pg_url), contract.unique_table("resume")
    path = write_orders_csv(tmp_path / "orders.csv", 2_000, seed=6)
    source = parse_source("csv", str(path), {}, SourcePolicy((tmp_path,)))
    spec = {"destination": {"table": table}}
    progress = 0

    async def drop_connection(event: Event) -> None:
        nonlocal progress
        progress += event.kind == "progress"
        if progress == 7:
            raise WarehouseUnavailable("connection reset by peer")

    with pytest.raises(WarehouseUnavailable):
        await run(source, warehouse, spec, batch_rows=150, emit=drop_connection, run_id="pg-retry")
    assert not await warehouse.table_exists(table)
    result = await run(source, warehouse, spec, batch_rows=150, run_id="pg-retry", attempt=2)
    loaded = await warehouse.read_table(table)
    assert loaded.height == 2_000
    assert loaded["order_id"].n_unique() == 2_000
    assert result.batches_resumed >= 5
    assert result.rows_read == 2_000


async def test_a_cancelled_load_leaves_no_trace(tmp_path: Path, pg_url: str) -> None:
    warehouse, table = open_warehouse(pg_url), contract.unique_table("cancel")
    await contract.load(warehouse, table, "append", contract.orders(range(3)))
    path = write_orders_csv(tmp_path / "orders.csv", 3_000, seed=7)
    source = parse_source("csv", str(path), {}, SourcePolicy((tmp_path,)))
    started = asyncio.Event()

    async def notice(event: Event) -> None:
        if event.kind == "progress":
            started.set()
            await asyncio.sleep(0.05)

    spec = {"destination": {"table": table, "mode": "replace"}}
    task = asyncio.create_task(
        run(source, warehouse, spec, batch_rows=100, emit=notice, run_id="pg-cancel")
    )
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_frame_equal(await contract.rows(warehouse, table), contract.orders(range(3)))
    connection = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        leftovers = await connection.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'warehouse' AND table_name LIKE '\\_stage\\_%'"
        )
        ledger_rows = await connection.fetchval(
            "SELECT count(*) FROM warehouse._dataflow_batches WHERE run_id = 'pg-cancel'"
        )
    finally:
        await connection.close()
    assert [row[0] for row in leftovers if table[:40] in row[0]] == []
    assert ledger_rows == 0
