"""What every warehouse must do, checked the same way on DuckDB and on PostgreSQL.

Each scenario takes a warehouse and a fresh table name and asserts what a reader of the
warehouse sees: the rows, the columns, the error code.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.errors import WarehouseError
from app.etl.errors import ContractViolation, TableNotFound

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from app.etl.warehouse import Mode, Warehouse

    Scenario = Callable[[Warehouse, str], Awaitable[None]]


def unique_table(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def orders(ids: range) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": list(ids),
            "name": [f"order {i}" for i in ids],
            "amount": [i * 1.5 for i in ids],
        },
        schema={"id": pl.Int64, "name": pl.String, "amount": pl.Float64},
    )


async def load(warehouse: Warehouse, table: str, mode: Mode, *frames: pl.DataFrame) -> None:
    """A whole committed load of `frames`."""
    table_load = await warehouse.begin_load(table=table, mode=mode, run_id=uuid.uuid4().hex)
    for frame in frames:
        await table_load.write(frame)
    await table_load.commit()


async def rows(warehouse: Warehouse, table: str) -> pl.DataFrame:
    return (await warehouse.read_table(table)).sort("id")


async def append_twice_accumulates(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(0, 3)))
    await load(warehouse, table, "append", orders(range(3, 5)), orders(range(5, 9)))
    assert_frame_equal(await rows(warehouse, table), orders(range(9)))


async def replace_swaps_the_table(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(5)))
    new = pl.DataFrame({"id": [10, 11], "label": ["x", "y"]})
    await load(warehouse, table, "replace", new[:1], new[1:])
    assert_frame_equal(await rows(warehouse, table), new)


async def abort_of_an_append_leaves_the_table(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(4)))
    table_load = await warehouse.begin_load(table=table, mode="append", run_id="r-abort")
    await table_load.write(orders(range(4, 100)))
    await table_load.write(orders(range(100, 2000)))
    await table_load.abort()
    assert_frame_equal(await rows(warehouse, table), orders(range(4)))


async def abort_of_a_replace_leaves_the_table(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(4)))
    table_load = await warehouse.begin_load(table=table, mode="replace", run_id="r-abort")
    await table_load.write(pl.DataFrame({"id": [1], "other": ["column"]}))
    await table_load.abort()
    assert_frame_equal(await rows(warehouse, table), orders(range(4)))


async def abort_of_a_first_load_leaves_no_table(warehouse: Warehouse, table: str) -> None:
    table_load = await warehouse.begin_load(table=table, mode="append", run_id="r-first")
    await table_load.write(orders(range(3)))
    await table_load.abort()
    assert not await warehouse.table_exists(table)


async def readers_see_nothing_before_commit(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(2)))
    table_load = await warehouse.begin_load(table=table, mode="replace", run_id="r-read")
    await table_load.write(orders(range(50, 60)))
    assert_frame_equal(await rows(warehouse, table), orders(range(2)))
    await table_load.commit()
    assert_frame_equal(await rows(warehouse, table), orders(range(50, 60)))


async def odd_whitelisted_names_work(warehouse: Warehouse, table: str) -> None:
    odd_table = f"_{table}_9"
    frame = pl.DataFrame(
        {
            "id": [1, 2],
            "Order ID": ["a", "b"],
            "naïve": [1.0, 2.0],
            'say "hi"': ["x", None],
            "select": [True, False],
            "a,b": ["", "c"],
        }
    )
    await load(warehouse, odd_table, "append", frame)
    await load(warehouse, odd_table, "append", frame.with_columns(pl.col("id") + 2))
    expected = pl.concat([frame, frame.with_columns(pl.col("id") + 2)])
    assert_frame_equal(await rows(warehouse, odd_table), expected)


async def an_extra_column_is_added_to_the_table(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(3)))
    await load(warehouse, table, "append", orders(range(3, 5)).with_columns(bonus=pl.lit(1)))
    loaded = await rows(warehouse, table)
    assert loaded.columns == ["id", "name", "amount", "bonus"]
    assert loaded["bonus"].to_list() == [None, None, None, 1, 1]


async def a_missing_column_loads_as_null(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(3)))
    await load(warehouse, table, "append", orders(range(3, 5)).drop("amount"))
    assert (await rows(warehouse, table))["amount"].to_list() == [0.0, 1.5, 3.0, None, None]


async def an_incompatible_type_names_both_types(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(3)))
    table_load = await warehouse.begin_load(table=table, mode="append", run_id="r-clash")
    clash = orders(range(3, 5)).with_columns(pl.lit(date(2024, 1, 1)).alias("amount"))
    with pytest.raises(ContractViolation) as raised:
        await table_load.write(clash)
    await table_load.abort()
    assert raised.value.code == "CONTRACT_VIOLATION"
    assert "`amount`" in raised.value.message
    assert "Float64" in raised.value.message
    assert "Date" in raised.value.message
    assert_frame_equal(await rows(warehouse, table), orders(range(3)))


async def column_types_round_trip(warehouse: Warehouse, table: str) -> None:
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "flag": [True, False, None],
            "text": ["plain", "", None],
            "day": [date(2024, 2, 29), None, date(1999, 12, 31)],
            "at": [datetime(2024, 1, 2, 3, 4, 5, 678901), None, datetime(2000, 1, 1)],
            "at_utc": [
                datetime(2024, 6, 1, 12, tzinfo=UTC),
                None,
                datetime(1970, 1, 1, tzinfo=UTC),
            ],
            "price": [Decimal("12.34"), None, Decimal("-0.50")],
            "ratio": [0.1, None, -2.5e10],
        },
        schema_overrides={"price": pl.Decimal(10, 2), "at_utc": pl.Datetime("us", "UTC")},
    )
    await load(warehouse, table, "append", frame)
    assert_frame_equal(await rows(warehouse, table), frame)


async def an_empty_batch_still_creates_the_table(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "replace", orders(range(0)))
    assert await warehouse.table_exists(table)
    assert_frame_equal(await rows(warehouse, table), orders(range(0)))


async def a_replace_without_writes_empties_the_table(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(3)))
    await load(warehouse, table, "replace")
    assert_frame_equal(await rows(warehouse, table), orders(range(0)))


async def a_missing_table_is_a_typed_error(warehouse: Warehouse, table: str) -> None:
    assert not await warehouse.table_exists(table)
    with pytest.raises(TableNotFound) as raised:
        await warehouse.read_table(table)
    assert raised.value.code == "TABLE_NOT_FOUND"


async def a_bad_table_name_is_refused(warehouse: Warehouse, table: str) -> None:
    for bad in (f"{table}; drop table x", "Orders", f'{table}"'):
        with pytest.raises(WarehouseError):
            await warehouse.begin_load(table=bad, mode="append", run_id="r-bad")


async def a_finished_load_takes_no_more(warehouse: Warehouse, table: str) -> None:
    table_load = await warehouse.begin_load(table=table, mode="append", run_id="r-done")
    await table_load.write(orders(range(2)))
    await table_load.commit()
    await table_load.abort()  # a no-op once committed: the rows stay
    with pytest.raises(WarehouseError):
        await table_load.write(orders(range(2, 4)))
    assert_frame_equal(await rows(warehouse, table), orders(range(2)))


async def unstorable_column_names_are_refused(warehouse: Warehouse, table: str) -> None:
    for bad in ("", "tab\there"):
        table_load = await warehouse.begin_load(table=table, mode="append", run_id="r-name")
        with pytest.raises(WarehouseError):
            await table_load.write(pl.DataFrame({"id": [1], bad: [2]}))
        await table_load.abort()
    assert not await warehouse.table_exists(table)


async def ping_answers(warehouse: Warehouse, table: str) -> None:
    del table
    await warehouse.ping()


SCENARIOS: list[Scenario] = [
    append_twice_accumulates,
    replace_swaps_the_table,
    abort_of_an_append_leaves_the_table,
    abort_of_a_replace_leaves_the_table,
    abort_of_a_first_load_leaves_no_table,
    readers_see_nothing_before_commit,
    odd_whitelisted_names_work,
    an_extra_column_is_added_to_the_table,
    a_missing_column_loads_as_null,
    an_incompatible_type_names_both_types,
    column_types_round_trip,
    an_empty_batch_still_creates_the_table,
    a_replace_without_writes_empties_the_table,
    a_missing_table_is_a_typed_error,
    a_bad_table_name_is_refused,
    a_finished_load_takes_no_more,
    unstorable_column_names_are_refused,
    ping_answers,
]
