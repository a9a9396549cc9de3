"""Bounded, filtered reads (previews, scoped reads) on both warehouses: the rows read
with a limit or a filter are the rows of a whole read, typed alike, and a filter binds
its values and accepts only columns the table has."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.etl.warehouse import open_warehouse
from app.etl.warehouse.row_reads import MissingColumn, RowFilter
from tests.unit.etl import warehouse_contract as contract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from app.etl.warehouse import Warehouse

pytestmark = pytest.mark.integration

FRAME = pl.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "country": ["DE", "FR", None, "DE"],
        "paid": [True, False, None, True],
        "ratio": [0.5, 1.25, None, -2.0],
        "price": [Decimal("1.10"), Decimal("2.00"), None, Decimal("3.30")],
        "day": [date(2024, 1, 1), date(2024, 2, 29), None, date(2024, 3, 1)],
        "at": [datetime(2024, 1, 1, 12, tzinfo=UTC), None, None, datetime(2024, 5, 1, tzinfo=UTC)],
        "note": ["a'b", "", None, 'say "hi"'],
    },
    schema_overrides={"price": pl.Decimal(10, 2)},
)


@pytest.fixture(params=["postgres", "duckdb"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


@pytest.fixture
async def warehouse(target: str) -> AsyncIterator[Warehouse]:
    warehouse = open_warehouse(target)
    yield warehouse
    await warehouse.close()


async def loaded(warehouse: Warehouse) -> str:
    table = contract.unique_table()
    await contract.load(warehouse, table, "append", FRAME)
    return table


async def test_a_limited_read_is_the_start_of_a_whole_read(warehouse: Warehouse) -> None:
    table = await loaded(warehouse)
    whole = (await warehouse.read_table(table)).sort("id")
    for limit in (0, 1, 4, 1000):
        read = await warehouse.read_rows(table, limit=limit, count=True)
        assert read.total == FRAME.height
        assert read.frame.height == min(limit, FRAME.height)
        assert_frame_equal(read.frame.sort("id"), whole.head(read.frame.height), check_dtypes=True)


async def test_filters_bind_values_on_any_column_type(warehouse: Warehouse) -> None:
    table = await loaded(warehouse)

    async def ids(*filters: RowFilter) -> list[int]:
        read = await warehouse.read_rows(table, where=filters, limit=100, count=True)
        assert read.total == read.frame.height
        return sorted(read.frame["id"].to_list())

    assert await ids(RowFilter("country", ("DE",))) == [1, 4]
    assert await ids(RowFilter("country", ("DE", "FR")), RowFilter("paid", (False,))) == [2]
    assert await ids(RowFilter("id", (2, 3))) == [2, 3]
    assert await ids(RowFilter("paid", (True,))) == [1, 4]
    assert await ids(RowFilter("note", ("a'b",))) == [1]
    assert await ids(RowFilter("country", ("DE' OR '1'='1",))) == []
    with pytest.raises(MissingColumn) as raised:
        await ids(RowFilter('country" OR 1=1 --', ("DE",)))
    assert raised.value.column == 'country" OR 1=1 --'


async def test_a_rejects_page_filters_on_the_raw_row(warehouse: Warehouse) -> None:
    table = contract.unique_table()
    run_id = uuid.uuid4().hex
    load = await warehouse.begin_load(table=table, mode="append", run_id=run_id)
    rejects = pl.DataFrame(
        {
            "source": ["a.csv", "a.csv", "b.csv"],
            "row_number": [2, 5, 3],
            "reason": ["bad", "worse", "worst"],
            "raw": [json.dumps(r) for r in ({"c": "DE", "n": 1}, {"c": "FR"}, {"n": 2})],
        }
    )
    await load.write_batch(0, pl.DataFrame({"id": [1]}), rejects=rejects)
    await load.commit()
    page = await warehouse.read_rejects_page(run_id, limit=10)
    assert page.select("source", "row_number").rows() == [("a.csv", 2), ("a.csv", 5), ("b.csv", 3)]
    after = await warehouse.read_rejects_page(run_id, after=(0, "a.csv", 2), limit=1)
    assert after["row_number"].to_list() == [5]
    scoped = await warehouse.read_rejects_page(run_id, where=[RowFilter("c", ("DE",))], limit=10)
    assert scoped["reason"].to_list() == ["bad"]
    numeric = await warehouse.read_rejects_page(run_id, where=[RowFilter("n", (2,))], limit=10)
    assert numeric["reason"].to_list() == ["worst"]
