"""Exact backfills on the PostgreSQL warehouse: one fixed sequence of backfills and
normal runs, repeated, loads every row of the partitions once (the DuckDB property test
in tests/unit/etl/test_engine_backfills.py generates many such sequences)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from app.etl.warehouse import open_warehouse
from tests.unit.etl import warehouse_contract as contract
from tests.unit.etl.test_engine_backfills import (
    DAYS,
    MERGE,
    PARTITIONED,
    day_rows,
    expected_rows,
    one_run,
    templated,
    write_partitions,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

# Today's run first, then last days backfilled (twice), a normal run of an old day, and
# the first day backfilled again after its rows changed nothing.
OPS = [(False, DAYS[3]), (True, DAYS[0]), (True, DAYS[1]), (False, DAYS[1]), (True, DAYS[0])]


@pytest.mark.parametrize("partitioned", [True, False], ids=["replace_partition", "merge"])
async def test_backfills_and_runs_load_each_row_once_on_postgres(
    tmp_path: Path, pg_url: str, partitioned: bool
) -> None:
    table = contract.unique_table("backfilled")
    base = PARTITIONED if partitioned else MERGE
    spec: dict[str, Any] = {**base, "destination": {**base["destination"], "table": table}}
    rows = {day: day_rows(day, 3) for day in DAYS}
    write_partitions(tmp_path, rows)
    warehouse = open_warehouse(pg_url)
    try:
        for backfill, day in OPS * 2:
            await one_run(warehouse, templated(tmp_path), spec, day, backfill)
        loaded = sorted((await warehouse.read_table(table)).select("id", "at", "value").rows())
    finally:
        await warehouse.close()
    model = MERGE if not partitioned else PARTITIONED
    assert loaded == expected_rows(model, rows, OPS * 2)


async def test_a_zoned_partition_column_is_windowed_in_utc_on_postgres(
    tmp_path: Path, pg_url: str
) -> None:
    table = contract.unique_table("zoned")
    spec = {"destination": {**PARTITIONED["destination"], "table": table}}
    # 00:30 at +01:00 on Jan 2 is 23:30 UTC on Jan 1: day 1's. 23:30 at -01:00 on Jan 1
    # is 00:30 UTC on Jan 2: not day 1's (rejected).
    (tmp_path / "orders_2024-01-01.csv").write_text(
        "id,at,value\n"
        "1,2024-01-01T10:00:00+00:00,a\n"
        "2,2024-01-02T00:30:00+01:00,b\n"
        "3,2024-01-01T23:30:00-01:00,c\n"
    )
    warehouse = open_warehouse(pg_url)
    try:
        for _ in range(2):
            result = await one_run(warehouse, templated(tmp_path), spec, DAYS[0], True)
            assert (result.rows_written, result.rows_rejected) == (2, 1)
        ids = sorted((await warehouse.read_table(table))["id"].to_list())
    finally:
        await warehouse.close()
    assert ids == [1, 2]
