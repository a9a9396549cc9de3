"""Contracts end to end on DuckDB: bad rows land in `_dataflow_rejects`, the rest loads."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.etl.errors import ContractViolation
from app.etl.warehouse import open_warehouse
from tests.unit.etl import warehouse_contract as contract
from tests.unit.etl.engine_helpers import csv_source, run

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from app.etl.sources import SourceConfig
    from app.etl.warehouse import Warehouse

# Line numbers are the file's: the header is line 1.
CORPUS = """id,qty,price,day,status
1,2,9.5,2024-01-01,paid
2,two,9.5,2024-01-02,paid
3,1,n/a,2024-01-03,paid
4,1,3.0,not a day,paid
5,0,3.0,2024-01-05,paid
6,,3.0,2024-01-06,paid
7,3,1.5,2024-01-07,
8,4,2.25,2024-01-08,cancelled
9,1.5,2.0,2024-01-09,paid
"""
CONTRACT: dict[str, Any] = {
    "columns": {"id": "Int64", "qty": "Int32", "price": "Float64", "day": "Date"},
    "required": ["qty", "status"],
    "checks": ["qty > 0", "price < 100"],
}
EXPECTED_REJECTS = [
    (3, "column `qty` expected Int32, got 'two'"),
    (4, "column `price` expected Float64, got 'n/a'"),
    (5, "column `day` expected Date, got 'not a day'"),
    (6, "check failed: qty > 0"),
    (7, "column `qty` is required but missing"),
    (8, "column `status` is required but missing"),
    (10, "column `qty` expected Int32, got '1.5'"),
]


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[Warehouse]:
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    yield warehouse
    await warehouse.close()


def corpus(tmp_path: Path) -> SourceConfig:
    # Every column as text: the contract's casts decide, row by row.
    return csv_source(tmp_path, "orders.csv", CORPUS, infer_types=False)


def spec(**overrides: Any) -> dict[str, Any]:
    return {
        "steps": [{"filter": "status <> 'cancelled'"}],
        "destination": {"table": "orders"},
        "contract": {**CONTRACT, **overrides},
    }


async def test_bad_rows_are_quarantined_with_reason_and_location(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    result = await run(corpus(tmp_path), warehouse, spec(), run_id="r1", batch_rows=3)

    loaded = (await warehouse.read_table("orders")).sort("id")
    assert loaded.rows() == [(1, 2, 9.5, date(2024, 1, 1), "paid")]
    assert loaded.schema == pl.Schema(
        {"id": pl.Int64, "qty": pl.Int32, "price": pl.Float64, "day": pl.Date, "status": pl.String}
    )
    rejects = await warehouse.read_rejects("r1")
    assert rejects.select("row_number", "reason").rows() == EXPECTED_REJECTS
    assert set(rejects["source"]) == {"orders.csv"}
    raw = rejects.filter(pl.col("row_number") == 4)["raw"].str.json_decode()
    assert raw.to_list() == [
        {"id": "3", "qty": "1", "price": "n/a", "day": "2024-01-03", "status": "paid"}
    ]
    assert (result.rows_read, result.rows_written, result.rows_rejected) == (9, 1, 7)
    assert result.rows_filtered == 1  # the cancelled order
    assert result.rows_read == result.rows_written + result.rows_rejected + result.rows_filtered


async def test_bad_rows_fail_the_run_when_the_contract_says_so(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    await contract.load(warehouse, "orders", "append", pl.DataFrame({"id": [0]}))
    with pytest.raises(ContractViolation) as raised:
        await run(corpus(tmp_path), warehouse, spec(bad_rows="fail"), run_id="r2")
    error = raised.value
    assert error.code == "CONTRACT_VIOLATION"
    assert "column `qty` expected Int32, got 'two' at orders.csv:3" in error.message
    assert (await warehouse.read_table("orders")).to_dicts() == [{"id": 0}]
    assert (await warehouse.read_rejects("r2")).height == 0


async def test_a_failed_later_batch_removes_earlier_rejects_too(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    text = CORPUS + "11,1,1.0,2024-01-11,paid,extra field\n"
    source = csv_source(tmp_path, "ragged.csv", text, infer_types=False)
    with pytest.raises(Exception, match="fields"):
        await run(source, warehouse, spec(), run_id="r3", batch_rows=3)
    assert (await warehouse.read_rejects("r3")).height == 0
    assert not await warehouse.table_exists("orders")


@pytest.mark.parametrize(
    ("policy", "columns"),
    [("evolve", ["id", "name", "coupon"]), ("discard", ["id", "name"])],
)
async def test_a_new_column_evolves_or_is_discarded(
    tmp_path: Path, warehouse: Warehouse, policy: str, columns: list[str]
) -> None:
    first = csv_source(tmp_path, "a.csv", "id,name\n1,a\n")
    later = csv_source(tmp_path, "b.csv", "id,name,coupon\n2,b,XMAS\n")
    rules = {"destination": {"table": "t"}, "contract": {"new_columns": policy}}
    await run(first, warehouse, rules)
    await run(later, warehouse, rules)
    loaded = (await warehouse.read_table("t")).sort("id")
    assert loaded.columns == columns
    assert loaded.height == 2


async def test_freeze_fails_naming_the_column_and_the_table(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    first = csv_source(tmp_path, "a.csv", "id,name\n1,a\n")
    later = csv_source(tmp_path, "b.csv", "id,name,coupon\n2,b,XMAS\n")
    rules = {"destination": {"table": "t"}, "contract": {"new_columns": "freeze"}}
    await run(first, warehouse, rules)
    with pytest.raises(ContractViolation) as raised:
        await run(later, warehouse, rules)
    assert "`coupon`" in raised.value.message
    assert "`t`" in raised.value.message
    assert (await warehouse.read_table("t")).rows() == [(1, "a")]


async def test_a_type_change_widens_or_is_refused_naming_both_types(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    rules: dict[str, Any] = {"destination": {"table": "t"}, "contract": {"columns": {"n": "Int32"}}}
    await run(csv_source(tmp_path, "a.csv", "n\n1\n"), warehouse, rules)
    # Int32 -> Int64 is safe: the column widens.
    rules["contract"]["columns"]["n"] = "Int64"
    await run(csv_source(tmp_path, "b.csv", f"n\n{2**40}\n"), warehouse, rules)
    loaded = await warehouse.read_table("t")
    assert loaded.schema["n"] == pl.Int64
    assert sorted(loaded["n"]) == [1, 2**40]
    # Declaring it Int32 again would narrow the Int64 column: refused, both types named.
    rules["contract"]["columns"]["n"] = "Int32"
    with pytest.raises(ContractViolation) as raised:
        await run(csv_source(tmp_path, "c.csv", "n\n3\n"), warehouse, rules)
    assert "Int64" in raised.value.message
    assert "Int32" in raised.value.message
    assert sorted((await warehouse.read_table("t"))["n"]) == [1, 2**40]


async def test_duplicate_merge_keys_keep_the_latest_by_order(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    text = "id,version,value\n1,1,a\n1,3,c\n2,1,x\n1,2,b\n,9,orphan\n"
    source = csv_source(tmp_path, "events.csv", text)
    rules = {
        "destination": {"table": "events", "mode": "merge", "keys": ["id"], "order_by": "version"}
    }
    result = await run(source, warehouse, rules, batch_rows=2, run_id="m1")
    assert (await warehouse.read_table("events")).sort("id").rows() == [(1, 3, "c"), (2, 1, "x")]
    rejects = await warehouse.read_rejects("m1")
    assert rejects.select("row_number", "reason").rows() == [(6, "merge key `id` is null")]
    assert (result.rows_read, result.rows_rejected) == (5, 1)
    # A second run updates in place: key 2 changes, key 3 is new.
    update = csv_source(tmp_path, "update.csv", "id,version,value\n2,2,y\n3,1,z\n")
    await run(update, warehouse, rules)
    assert (await warehouse.read_table("events")).sort("id")["value"].to_list() == ["c", "y", "z"]


async def test_a_blocking_pipeline_keeps_the_counts_and_the_rejects(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    rules = {
        "steps": [
            {"filter": "status <> 'cancelled'"},
            {
                "aggregate": {
                    "by": ["status"],
                    "measures": {"orders": "count(*)", "qty": "sum(qty)"},
                }
            },
        ],
        "destination": {"table": "by_status", "mode": "replace"},
        "contract": CONTRACT,
    }
    result = await run(corpus(tmp_path), warehouse, rules, batch_rows=2, run_id="b1")
    assert_frame_equal(
        await warehouse.read_table("by_status"),
        pl.DataFrame({"status": ["paid"], "orders": [1], "qty": [2]}),
        check_dtypes=False,
    )
    assert (await warehouse.read_rejects("b1")).height == len(EXPECTED_REJECTS)
    assert result.rows_read == 9
    assert result.rows_read == result.rows_written + result.rows_rejected + result.rows_filtered
