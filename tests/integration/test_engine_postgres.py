"""The engine into the real PostgreSQL warehouse: the rows land, or nothing does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.errors import SourceMalformed
from app.etl.engine import run_pipeline
from app.etl.sample import write_orders_csv
from app.etl.sources import csv as csv_source
from app.etl.sources import parse_source
from app.etl.sources.policy import SourcePolicy
from app.etl.spec import parse_spec
from app.etl.warehouse import open_warehouse
from tests.unit.etl import warehouse_contract as contract

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


async def ignore(kind: str, stage: str, payload: dict[str, Any]) -> None:
    del kind, stage, payload


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
        source=parse_source("csv", str(path), {}, SourcePolicy((tmp_path,))),
        spec=spec,
        warehouse=warehouse,
        run_id="pg-run",
        emit=ignore,
        batch_rows=700,
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
    monkeypatch.setattr(csv_source, "SAMPLE_BYTES", 1024)
    warehouse, table = open_warehouse(pg_url), contract.unique_table()
    await contract.load(warehouse, table, "append", contract.orders(range(5)))
    lines = [f"{i},order {i},{i * 1.5}" for i in range(5, 3_000)]
    lines[2_500] = "2505,order,1.0,extra"
    path = tmp_path / "late.csv"
    path.write_text("id,name,amount\n" + "\n".join(lines) + "\n")
    with pytest.raises(SourceMalformed) as raised:
        await run_pipeline(
            source=parse_source("csv", str(path), {}, SourcePolicy((tmp_path,))),
            spec=parse_spec({"destination": {"table": table}}),
            warehouse=warehouse,
            run_id="pg-bad",
            emit=ignore,
            batch_rows=100,
        )
    assert "line 2502" in raised.value.message
    assert_frame_equal(await contract.rows(warehouse, table), contract.orders(range(5)))
