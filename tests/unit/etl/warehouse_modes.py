"""Merge, resume, rejects, watermarks and schema changes, the same on every warehouse.

Like `warehouse_contract`, each scenario takes a warehouse and a fresh table name and
asserts what a reader of the warehouse sees.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from unittest.mock import patch

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.errors import RunTakenAway
from app.etl.errors import ContractViolation
from app.etl.warehouse import BatchStats, LoadOptions, ledger
from tests.unit.etl.warehouse_contract import load, orders, rows

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from app.etl.warehouse import Warehouse

    Scenario = Callable[[Warehouse, str], Awaitable[None]]

MERGE = LoadOptions(keys=("id",))


def events(ids: list[int], values: list[str], seen: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"id": ids, "value": values, "seen": seen})


async def merge_upserts_on_the_keys(warehouse: Warehouse, table: str) -> None:
    first = await warehouse.begin_load(table=table, mode="merge", run_id="m1", options=MERGE)
    await first.write(events([1, 2, 3], ["a", "b", "c"], [1, 1, 1]))
    await first.commit()
    second = await warehouse.begin_load(table=table, mode="merge", run_id="m2", options=MERGE)
    await second.write(events([3, 4], ["C", "d"], [2, 2]))
    await second.commit()
    assert_frame_equal(
        await rows(warehouse, table),
        events([1, 2, 3, 4], ["a", "b", "C", "d"], [1, 1, 2, 2]),
    )


async def merge_keeps_the_last_duplicate_by_order(warehouse: Warehouse, table: str) -> None:
    options = LoadOptions(keys=("id",), order_by="seen")
    table_load = await warehouse.begin_load(
        table=table, mode="merge", run_id="m-dup", options=options
    )
    # Within a batch and across batches: the greatest `seen` wins, not the position.
    await table_load.write(events([1, 1, 2], ["late", "early", "x"], [9, 3, 1]))
    await table_load.write(events([1, 2, 2], ["middle", "y", "z"], [5, 2, 2]))
    await table_load.commit()
    # Equal order values: the later row (by batch, then position) wins.
    assert_frame_equal(await rows(warehouse, table), events([1, 2], ["late", "z"], [9, 2]))


async def merge_without_order_keeps_the_last_arrival(warehouse: Warehouse, table: str) -> None:
    table_load = await warehouse.begin_load(
        table=table, mode="merge", run_id="m-arr", options=MERGE
    )
    await table_load.write(events([1, 1], ["first", "second"], [0, 0]))
    await table_load.write(events([1], ["third"], [0]))
    await table_load.commit()
    assert (await rows(warehouse, table))["value"].to_list() == ["third"]


async def merging_a_run_twice_equals_once(warehouse: Warehouse, table: str) -> None:
    batch = events([1, 2, 2], ["a", "b", "c"], [1, 1, 2])
    for run_id in ("m-a", "m-b"):
        table_load = await warehouse.begin_load(
            table=table, mode="merge", run_id=run_id, options=MERGE
        )
        await table_load.write(batch)
        await table_load.commit()
    assert_frame_equal(await rows(warehouse, table), events([1, 2], ["a", "c"], [1, 2]))


async def a_redelivered_batch_is_a_no_op(warehouse: Warehouse, table: str) -> None:
    table_load = await warehouse.begin_load(table=table, mode="append", run_id="r-redeliver")
    await table_load.write_batch(0, orders(range(3)))
    await table_load.write_batch(1, orders(range(3, 5)))
    await table_load.write_batch(0, orders(range(3)))  # the same batch again
    totals = await table_load.commit()
    assert_frame_equal(await rows(warehouse, table), orders(range(5)))
    assert (totals.rows_written, totals.batches) == (5, 2)


async def a_retried_run_resumes_without_duplicates(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(2)))
    first = await warehouse.begin_load(table=table, mode="append", run_id="r-retry")
    await first.write_batch(0, orders(range(2, 4)))
    await first.write_batch(1, orders(range(4, 6)))
    await first.suspend()  # the worker lost its connection here
    assert_frame_equal(await rows(warehouse, table), orders(range(2)))

    retry = await warehouse.begin_load(
        table=table, mode="append", run_id="r-retry", options=LoadOptions(attempt=2)
    )
    assert sorted(retry.committed) == [0, 1]
    for number, ids in enumerate((range(2, 4), range(4, 6), range(6, 8))):
        await retry.write_batch(number, orders(ids))  # batches 0 and 1 are skipped
    totals = await retry.commit()
    assert_frame_equal(await rows(warehouse, table), orders(range(8)))
    assert (totals.rows_written, totals.batches) == (6, 3)


async def an_applied_run_is_not_applied_again(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(3)))
    table_load = await warehouse.begin_load(table=table, mode="append", run_id="r-once")
    await table_load.write(orders(range(3, 6)))
    await table_load.commit()
    again = await warehouse.begin_load(table=table, mode="append", run_id="r-once")
    assert again.applied is not None
    assert again.applied.rows_written == 3
    assert_frame_equal(await rows(warehouse, table), orders(range(6)))


async def an_earlier_attempt_is_fenced_off(warehouse: Warehouse, table: str) -> None:
    old = await warehouse.begin_load(table=table, mode="append", run_id="r-fence")
    await old.write_batch(0, orders(range(2)))
    await old.suspend()
    new = await warehouse.begin_load(
        table=table, mode="append", run_id="r-fence", options=LoadOptions(attempt=2)
    )
    await new.suspend()
    with pytest.raises(RunTakenAway):
        await warehouse.begin_load(table=table, mode="append", run_id="r-fence")
    await warehouse.discard_run("r-fence", attempt=2)
    assert not await warehouse.table_exists(table)


async def a_stale_attempts_discard_is_a_no_op(warehouse: Warehouse, table: str) -> None:
    # Attempt 1 lost its lease; attempt 2 took the load over, staged a batch and is
    # between batches (here: suspended, so it holds no lock). Attempt 1 then fails and
    # cleans up: the new owner's staging and ledger must survive it.
    old = await warehouse.begin_load(table=table, mode="append", run_id="r-stale")
    await old.write_batch(0, orders(range(2)))
    await old.suspend()
    new = await warehouse.begin_load(
        table=table, mode="append", run_id="r-stale", options=LoadOptions(attempt=2)
    )
    await new.write_batch(1, orders(range(2, 4)))
    await new.suspend()
    await warehouse.discard_run("r-stale", attempt=1)
    resumed = await warehouse.begin_load(
        table=table, mode="append", run_id="r-stale", options=LoadOptions(attempt=2)
    )
    assert sorted(resumed.committed) == [0, 1]
    await resumed.write_batch(2, orders(range(4, 6)))
    totals = await resumed.commit()
    assert_frame_equal(await rows(warehouse, table), orders(range(6)))
    assert (totals.rows_written, totals.batches) == (6, 3)


async def discard_run_removes_what_a_run_left(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(2)))
    table_load = await warehouse.begin_load(table=table, mode="append", run_id="r-left")
    rejects = pl.DataFrame(
        {"source": ["f.csv"], "row_number": [7], "reason": ["bad"], "raw": ['{"id": "x"}']}
    )
    await table_load.write_batch(0, orders(range(2, 4)), rejects=rejects)
    await table_load.suspend()
    assert (await warehouse.read_rejects("r-left")).height == 1
    await warehouse.discard_run("r-left", attempt=1)
    await warehouse.discard_run("r-left", attempt=1)  # idempotent
    assert (await warehouse.read_rejects("r-left")).height == 0
    fresh = await warehouse.begin_load(table=table, mode="append", run_id="r-left")
    assert not fresh.committed
    await fresh.commit()
    assert_frame_equal(await rows(warehouse, table), orders(range(2)))


async def retention_forgets_runs_but_not_their_rows(warehouse: Warehouse, table: str) -> None:
    rejects = pl.DataFrame(
        {"source": ["f.csv"], "row_number": [3], "reason": ["bad"], "raw": ['{"id": 1}']}
    )
    done = await warehouse.begin_load(table=table, mode="append", run_id=f"{table}-old")
    await done.write_batch(0, orders(range(2)), rejects=rejects)
    await done.commit()
    left = await warehouse.begin_load(table=table, mode="append", run_id=f"{table}-left")
    await left.write_batch(0, orders(range(2, 4)), rejects=rejects)
    await left.suspend()
    assert await warehouse.forget_runs([f"{table}-old", f"{table}-left", "unknown"]) == 2
    assert (await warehouse.read_rejects(f"{table}-old")).height == 0
    assert_frame_equal(await rows(warehouse, table), orders(range(2)))
    fresh = await warehouse.begin_load(table=table, mode="append", run_id=f"{table}-left")
    assert not fresh.committed
    await fresh.abort()


async def rejects_are_kept_with_their_run_and_location(warehouse: Warehouse, table: str) -> None:
    table_load = await warehouse.begin_load(table=table, mode="append", run_id="r-rejects")
    rejects = pl.DataFrame(
        {
            "source": ["orders.csv", "orders.csv"],
            "row_number": [4, 9],
            "reason": ["column `id` expected Int64, got 'x'", "check failed: id > 0"],
            "raw": ['{"id":"x"}', '{"id":"-1"}'],
        }
    )
    stats = BatchStats(rows_read=4, rows_written=2, rows_rejected=2)
    await table_load.write_batch(0, orders(range(2)), rejects=rejects, stats=stats)
    totals = await table_load.commit()
    assert (totals.rows_read, totals.rows_written, totals.rows_rejected) == (4, 2, 2)
    stored = await warehouse.read_rejects("r-rejects")
    assert stored.select("source", "row_number", "reason").rows() == [
        ("orders.csv", 4, "column `id` expected Int64, got 'x'"),
        ("orders.csv", 9, "check failed: id > 0"),
    ]
    assert stored["raw"].str.json_decode().struct.field("id").to_list() == ["x", "-1"]


async def the_watermark_moves_with_the_data(warehouse: Warehouse, table: str) -> None:
    options = LoadOptions(pipeline="p", cursor="at")
    day = datetime(2024, 5, 1)
    first = await warehouse.begin_load(table=table, mode="append", run_id="w1", options=options)
    assert first.watermark is None
    await first.write_batch(0, orders(range(2)), stats=BatchStats(2, 2, cursor_max=day))
    await first.commit()
    later = await warehouse.begin_load(table=table, mode="append", run_id="w2", options=options)
    assert later.watermark is not None
    assert (later.watermark.column, later.watermark.value) == ("at", day)
    await later.abort()


async def a_failed_apply_moves_neither_rows_nor_watermark(warehouse: Warehouse, table: str) -> None:
    """The watermark is written in the apply's transaction: when the apply's last
    statement fails, the rows and the watermark both stay as they were."""
    options = LoadOptions(pipeline="p", cursor="n")
    first = await warehouse.begin_load(table=table, mode="append", run_id="w-1", options=options)
    await first.write_batch(0, orders(range(2)), stats=BatchStats(2, 2, cursor_max=10))
    await first.commit()
    failing = await warehouse.begin_load(table=table, mode="append", run_id="w-2", options=options)
    await failing.write_batch(0, orders(range(2, 4)), stats=BatchStats(2, 2, cursor_max=20))
    with (
        patch.object(ledger, "mark_applied", side_effect=RuntimeError("commit failed")),
        pytest.raises(RuntimeError, match="commit failed"),
    ):
        await failing.commit()
    await failing.abort()
    assert_frame_equal(await rows(warehouse, table), orders(range(2)))
    after = await warehouse.begin_load(table=table, mode="append", run_id="w-3", options=options)
    assert after.watermark is not None
    assert after.watermark.value == 10
    await after.write_batch(0, orders(range(2, 4)), stats=BatchStats(2, 2, cursor_max=20))
    await after.commit()
    last = await warehouse.begin_load(table=table, mode="append", run_id="w-4", options=options)
    assert last.watermark is not None
    assert last.watermark.value == 20
    await last.abort()
    assert_frame_equal(await rows(warehouse, table), orders(range(4)))


async def freeze_refuses_a_new_column(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(2)))
    table_load = await warehouse.begin_load(
        table=table, mode="append", run_id="r-freeze", options=LoadOptions(new_columns="freeze")
    )
    with pytest.raises(ContractViolation) as raised:
        await table_load.write(orders(range(2, 4)).with_columns(bonus=pl.lit(1)))
    await table_load.abort()
    assert "`bonus`" in raised.value.message
    assert f"`{table}`" in raised.value.message
    assert_frame_equal(await rows(warehouse, table), orders(range(2)))


async def discard_drops_a_new_column(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(2)))
    table_load = await warehouse.begin_load(
        table=table, mode="append", run_id="r-discard", options=LoadOptions(new_columns="discard")
    )
    await table_load.write(orders(range(2, 4)).with_columns(bonus=pl.lit(1)))
    await table_load.commit()
    assert_frame_equal(await rows(warehouse, table), orders(range(4)))


async def a_safe_type_change_widens_the_column(warehouse: Warehouse, table: str) -> None:
    narrow = orders(range(2)).with_columns(pl.col("id").cast(pl.Int32))
    await load(warehouse, table, "append", narrow)
    await load(warehouse, table, "append", orders(range(2, 4)).with_columns(pl.col("id") * 2**33))
    loaded = await rows(warehouse, table)
    assert loaded.schema["id"] == pl.Int64
    assert loaded["id"].to_list() == [0, 1, 2 * 2**33, 3 * 2**33]


async def integers_widen_to_floats_and_anything_to_text(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", pl.DataFrame({"id": [1], "v": [2]}))
    await load(warehouse, table, "append", pl.DataFrame({"id": [2], "v": [2.5]}))
    assert (await rows(warehouse, table))["v"].to_list() == [2.0, 2.5]
    await load(warehouse, table, "append", pl.DataFrame({"id": [3], "v": ["n/a"]}))
    loaded = await rows(warehouse, table)
    assert loaded.schema["v"] == pl.String
    assert loaded["v"][2] == "n/a"
    assert [float(v) for v in loaded["v"][:2]] == [2.0, 2.5]


async def a_narrower_batch_is_cast_up(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(2)))
    narrow = orders(range(2, 4)).with_columns(pl.col("id").cast(pl.Int32), pl.col("amount") * 0)
    await load(warehouse, table, "append", narrow.with_columns(pl.col("amount").cast(pl.Int16)))
    loaded = await rows(warehouse, table)
    assert loaded.schema == orders(range(0)).schema
    assert loaded["amount"].to_list() == [0.0, 1.5, 0.0, 0.0]


async def a_declared_narrowing_is_refused(warehouse: Warehouse, table: str) -> None:
    await load(warehouse, table, "append", orders(range(2)))  # id is Int64
    options = LoadOptions(declared={"id": pl.Int32()})
    table_load = await warehouse.begin_load(
        table=table, mode="append", run_id="r-narrow", options=options
    )
    with pytest.raises(ContractViolation) as raised:
        await table_load.write(orders(range(2, 4)).with_columns(pl.col("id").cast(pl.Int32)))
    await table_load.abort()
    assert "Int64" in raised.value.message
    assert "Int32" in raised.value.message


async def freeze_refuses_even_a_widening(warehouse: Warehouse, table: str) -> None:
    await load(
        warehouse, table, "append", orders(range(2)).with_columns(pl.col("id").cast(pl.Int32))
    )
    table_load = await warehouse.begin_load(
        table=table, mode="append", run_id="r-fw", options=LoadOptions(new_columns="freeze")
    )
    with pytest.raises(ContractViolation) as raised:
        await table_load.write(orders(range(2, 4)))
    await table_load.abort()
    assert "Int32" in raised.value.message
    assert "Int64" in raised.value.message


async def long_column_names_are_shortened_apart(warehouse: Warehouse, table: str) -> None:
    first, second = "measure_" + "x" * 70 + "_a", "measure_" + "x" * 70 + "_b"
    frame = pl.DataFrame({"id": [1], first: [1.0], second: [2.0]})
    await load(warehouse, table, "append", frame)
    await load(warehouse, table, "append", frame.with_columns(pl.col("id") + 1))
    loaded = await rows(warehouse, table)
    assert len(loaded.columns) == 3
    assert all(len(name.encode()) <= 63 for name in loaded.columns)
    assert loaded.row(0) == (1, 1.0, 2.0)
    assert loaded.height == 2


SCENARIOS: list[Scenario] = [
    merge_upserts_on_the_keys,
    merge_keeps_the_last_duplicate_by_order,
    merge_without_order_keeps_the_last_arrival,
    merging_a_run_twice_equals_once,
    a_redelivered_batch_is_a_no_op,
    a_retried_run_resumes_without_duplicates,
    an_applied_run_is_not_applied_again,
    an_earlier_attempt_is_fenced_off,
    a_stale_attempts_discard_is_a_no_op,
    discard_run_removes_what_a_run_left,
    rejects_are_kept_with_their_run_and_location,
    retention_forgets_runs_but_not_their_rows,
    the_watermark_moves_with_the_data,
    a_failed_apply_moves_neither_rows_nor_watermark,
    freeze_refuses_a_new_column,
    discard_drops_a_new_column,
    a_safe_type_change_widens_the_column,
    integers_widen_to_floats_and_anything_to_text,
    a_narrower_batch_is_cast_up,
    a_declared_narrowing_is_refused,
    freeze_refuses_even_a_widening,
    long_column_names_are_shortened_apart,
]
