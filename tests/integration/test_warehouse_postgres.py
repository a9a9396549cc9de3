"""The PostgreSQL warehouse keeps the warehouse contract on a real server."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import asyncpg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.errors import WarehouseError, WarehouseUnavailable
from app.etl.warehouse import LoadOptions, open_warehouse
from app.etl.warehouse.pg_binary import encode_binary
from app.etl.warehouse.pg_types import pg_type
from app.etl.warehouse.postgres import PostgresWarehouse
from tests.unit.etl import warehouse_contract as contract
from tests.unit.etl import warehouse_modes as modes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from app.etl.warehouse import Warehouse

pytestmark = pytest.mark.integration


@pytest.fixture
async def warehouse(pg_url: str) -> AsyncIterator[Warehouse]:
    warehouse = open_warehouse(pg_url)
    yield warehouse
    await warehouse.close()


@pytest.mark.parametrize("scenario", contract.SCENARIOS, ids=lambda s: s.__name__)
async def test_contract(warehouse: Warehouse, scenario: contract.Scenario) -> None:
    await scenario(warehouse, contract.unique_table())


@pytest.mark.parametrize("scenario", modes.SCENARIOS, ids=lambda s: s.__name__)
async def test_modes(warehouse: Warehouse, scenario: modes.Scenario) -> None:
    await scenario(warehouse, contract.unique_table())


async def test_tables_live_in_the_warehouse_schema_with_mapped_types(pg_url: str) -> None:
    table = contract.unique_table()
    frame = pl.DataFrame(
        {"small": [1], "id": [2], "ratio": [0.5], "big": [3]},
        schema={"small": pl.Int8, "id": pl.Int32, "ratio": pl.Float32, "big": pl.UInt64},
    )
    await contract.load(open_warehouse(pg_url), table, "append", frame)
    connection = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        types = await connection.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'warehouse' AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
    finally:
        await connection.close()
    assert [tuple(row) for row in types] == [
        ("small", "smallint"),
        ("id", "integer"),
        ("ratio", "real"),
        ("big", "numeric"),
    ]


async def test_types_without_a_column_type_of_their_own_are_stored(pg_url: str) -> None:
    warehouse, table = open_warehouse(pg_url), contract.unique_table()
    frame = pl.DataFrame(
        {
            "id": [1, 2],
            "at": [time(10, 1, 2, 3), time(0, 0)],
            "took": [timedelta(days=1, hours=2, microseconds=5), None],
            "blob": [b"ab", b""],
            "kind": ["x", "y"],
            "nothing": [None, None],
        },
        schema_overrides={"kind": pl.Categorical},
    )
    await contract.load(warehouse, table, "append", frame)
    assert (await contract.rows(warehouse, table)).to_dicts() == [
        {
            "id": 1,
            "at": time(10, 1, 2, 3),
            "took": "26:00:00.000005",
            "blob": "\\x6162",
            "kind": "x",
            "nothing": None,
        },
        {"id": 2, "at": time(0, 0), "took": None, "blob": "\\x", "kind": "y", "nothing": None},
    ]


async def test_a_nested_column_is_refused(pg_url: str) -> None:
    warehouse, table = open_warehouse(pg_url), contract.unique_table()
    table_load = await warehouse.begin_load(table=table, mode="append", run_id="nested")
    with pytest.raises(WarehouseError) as raised:
        await table_load.write(pl.DataFrame({"id": [1], "tags": [["a", "b"]]}))
    await table_load.abort()
    assert "`tags`" in raised.value.message
    assert not await warehouse.table_exists(table)


async def test_a_replace_swaps_while_another_load_waits(pg_url: str) -> None:
    """Two loads into one table queue up; each reader sees one whole version."""
    warehouse, table = open_warehouse(pg_url), contract.unique_table()
    await contract.load(warehouse, table, "append", contract.orders(range(3)))
    first = await warehouse.begin_load(table=table, mode="replace", run_id="one")
    await first.write(contract.orders(range(10, 20)))
    second = asyncio.create_task(
        contract.load(warehouse, table, "append", contract.orders(range(20, 22)))
    )
    await asyncio.sleep(0.2)
    assert not second.done()  # waiting for the first load's transaction
    assert_frame_equal(await contract.rows(warehouse, table), contract.orders(range(3)))
    await first.commit()
    await second
    assert_frame_equal(await contract.rows(warehouse, table), contract.orders(range(10, 22)))


async def test_an_unreachable_server_is_transient() -> None:
    warehouse = PostgresWarehouse("postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(WarehouseUnavailable) as raised:
        await warehouse.ping()
    assert raised.value.code == "WAREHOUSE_UNAVAILABLE"


async def test_binary_copy_round_trips_every_type_it_encodes(pg_url: str) -> None:
    """Batches of these types go through COPY BINARY; nulls in every column, edge values."""
    warehouse, table = open_warehouse(pg_url), contract.unique_table()
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "tiny": [-128, None, 127],
            "small": [1, None, -(2**15)],
            "int": [2**31 - 1, None, 0],
            "unsigned": [2**32 - 1, None, 0],
            "real": [1.5, None, -0.25],
            "double": [1e300, None, -2.5e-10],
            "flag": [True, None, False],
            "text": ['naïve "quoted", comma', None, ""],
            "kind": ["a", None, "b"],
            "day": [date(1999, 12, 31), None, date(2000, 1, 1)],
            "at": [datetime(1970, 1, 1), None, datetime(2038, 1, 19, 3, 14, 7, 999999)],
            "at_paris": [datetime(2024, 6, 1, 12, 30), None, datetime(1999, 1, 1)],
            "clock": [time(0, 0), None, time(23, 59, 59, 999999)],
        },
        schema_overrides={
            "tiny": pl.Int8,
            "small": pl.Int16,
            "int": pl.Int32,
            "unsigned": pl.UInt32,
            "real": pl.Float32,
            "kind": pl.Categorical,
        },
    ).with_columns(
        pl.col("at_paris").dt.replace_time_zone("Europe/Paris"),
        pl.col("at").dt.cast_time_unit("ns"),
    )
    db_types = [pg_type(dtype) for dtype in frame.schema.values()]
    assert encode_binary(frame, db_types) is not None
    await contract.load(warehouse, table, "append", frame)
    loaded = await contract.rows(warehouse, table)
    expected = frame.with_columns(
        pl.col("tiny").cast(pl.Int16),
        pl.col("unsigned").cast(pl.Int64),
        pl.col("kind").cast(pl.String),
        pl.col("at").dt.cast_time_unit("us"),
        pl.col("at_paris").dt.convert_time_zone("UTC"),
    )
    assert_frame_equal(loaded, expected)


def test_types_without_a_binary_form_fall_back_to_csv() -> None:
    frame = pl.DataFrame({"price": [Decimal("1.50")], "took": [timedelta(seconds=3)]})
    assert encode_binary(frame, [pg_type(dtype) for dtype in frame.schema.values()]) is None


async def test_unlogged_staging_lost_in_a_crash_is_noticed_on_resume(pg_url: str) -> None:
    """Appends into an existing table stage in an UNLOGGED table, which a server crash
    empties: the resumed run sees its ledger no longer matches and starts afresh."""
    warehouse, table = open_warehouse(pg_url), contract.unique_table()
    await contract.load(warehouse, table, "append", contract.orders(range(2)))
    first = await warehouse.begin_load(table=table, mode="append", run_id=f"{table}-crash")
    await first.write_batch(0, contract.orders(range(2, 4)))
    await first.write_batch(1, contract.orders(range(4, 6)))
    await first.suspend()
    connection = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        staging = await connection.fetchrow(
            "SELECT relname, relpersistence FROM pg_class "
            "WHERE relname LIKE '\\_stage\\_' || $1 || '%'",
            table,
        )
        assert staging is not None
        assert staging["relpersistence"] == b"u"
        # What crash recovery does to an unlogged table.
        await connection.execute(f'TRUNCATE warehouse."{staging["relname"]}"')
    finally:
        await connection.close()
    retry = await warehouse.begin_load(
        table=table, mode="append", run_id=f"{table}-crash", options=LoadOptions(attempt=2)
    )
    assert not retry.committed
    for number, ids in enumerate((range(2, 4), range(4, 6))):
        await retry.write_batch(number, contract.orders(ids))
    await retry.commit()
    assert_frame_equal(await contract.rows(warehouse, table), contract.orders(range(6)))
