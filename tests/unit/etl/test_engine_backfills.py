"""Backfills are exact: a backfill run neither reads nor moves the watermark, and mode
replace_partition replaces exactly the run's window (DuckDB; one case on PostgreSQL
lives in tests/integration/test_engine_postgres.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import SpecInvalid
from app.etl.partitions import PartitionRequired
from app.etl.sources import parse_source
from app.etl.sources.policy import SourcePolicy
from app.etl.spec import parse_spec
from app.etl.warehouse import open_warehouse
from tests.unit.etl.engine_helpers import run

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence
    from pathlib import Path

    from app.etl.engine import LoadResult
    from app.etl.sources import SourceConfig
    from app.etl.warehouse import Warehouse

DAYS = [date(2024, 1, 1) + timedelta(days=n) for n in range(4)]
MERGE: dict[str, Any] = {
    "destination": {"table": "orders", "mode": "merge", "keys": ["id"]},
    "incremental": {"cursor": "at"},
}
PARTITIONED: dict[str, Any] = {
    "destination": {"table": "orders", "mode": "replace_partition", "partition_column": "at"},
}


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[Warehouse]:
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    yield warehouse
    await warehouse.close()


def day_rows(day: date, count: int) -> list[tuple[int, datetime, str]]:
    """`count` orders of `day`: ids unique across days, one an hour from 01:00."""
    base = (day - DAYS[0]).days * 100
    return [
        (base + n, datetime(day.year, day.month, day.day, n + 1), f"v{base + n}")
        for n in range(count)
    ]


def write_partitions(directory: Path, rows: Mapping[date, Sequence[tuple[Any, ...]]]) -> None:
    for day, items in rows.items():
        lines = ["id,at,value", *(f"{i},{at.isoformat()},{v}" for i, at, v in items)]
        (directory / f"orders_{day.isoformat()}.csv").write_text("\n".join(lines) + "\n")


def templated(directory: Path) -> SourceConfig:
    uri = str(directory / "orders_{partition}.csv")
    return parse_source("csv", uri, {}, SourcePolicy((directory,)))


def params(day: date) -> dict[str, str]:
    start = datetime(day.year, day.month, day.day)
    end = start + timedelta(days=1)
    return {
        "partition": day.isoformat(),
        "partition_start": f"{start.isoformat()}+00:00",
        "partition_end": f"{end.isoformat()}+00:00",
    }


async def one_run(
    warehouse: Warehouse, source: SourceConfig, spec: dict[str, Any], day: date, backfill: bool
) -> LoadResult:
    return await run(
        source, warehouse, spec, params=params(day), pipeline_id="p", backfill=backfill
    )


async def loaded(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    if not await warehouse.table_exists("orders"):
        return []
    return sorted((await warehouse.read_table("orders")).select("id", "at", "value").rows())


async def test_a_backfill_after_todays_run_loads_its_partition_and_keeps_the_watermark(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    rows = {day: day_rows(day, 3) for day in DAYS}
    write_partitions(tmp_path, rows)
    source = templated(tmp_path)
    today = await one_run(warehouse, source, MERGE, DAYS[3], backfill=False)
    assert today.watermark == datetime(2024, 1, 4, 3)

    backfilled = await one_run(warehouse, source, MERGE, DAYS[0], backfill=True)

    assert (backfilled.rows_read, backfilled.rows_written) == (3, 3)
    assert sorted(await loaded(warehouse)) == sorted(rows[DAYS[0]] + rows[DAYS[3]])
    # The next normal run still starts after today's watermark, not the backfill's rows.
    again = await one_run(warehouse, source, MERGE, DAYS[3], backfill=False)
    assert (again.rows_written, again.watermark) == (0, datetime(2024, 1, 4, 3))


async def test_replace_partition_replaces_its_window_and_rejects_rows_outside_it(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    stray = (999, datetime(2024, 1, 2, 5), "stray")  # day 2's, in day 1's file
    write_partitions(tmp_path, {DAYS[0]: [*day_rows(DAYS[0], 3), stray]})
    write_partitions(tmp_path, {DAYS[1]: day_rows(DAYS[1], 2)})
    source = templated(tmp_path)
    await one_run(warehouse, source, PARTITIONED, DAYS[1], backfill=True)
    first = await one_run(warehouse, source, PARTITIONED, DAYS[0], backfill=True)
    assert (first.rows_read, first.rows_written, first.rows_rejected) == (4, 3, 1)
    assert first.rows_read == first.rows_written + first.rows_rejected + first.rows_filtered

    # Day 1 changes at the source: one row less, one changed. A rerun replaces it.
    changed = day_rows(DAYS[0], 2)
    changed[0] = (changed[0][0], changed[0][1], "changed")
    write_partitions(tmp_path, {DAYS[0]: changed})
    await one_run(warehouse, source, PARTITIONED, DAYS[0], backfill=True)
    assert await loaded(warehouse) == sorted(changed + day_rows(DAYS[1], 2))


async def test_rows_outside_the_window_are_rejected_with_their_reason(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    write_partitions(
        tmp_path,
        {DAYS[0]: [(1, datetime(2024, 1, 3, 5), "late"), (2, datetime(2024, 1, 1, 5), "in")]},
    )
    result = await run(
        templated(tmp_path),
        warehouse,
        PARTITIONED,
        params=params(DAYS[0]),
        run_id="r-outside",
        pipeline_id="p",
    )
    assert (result.rows_written, result.rows_rejected) == (1, 1)
    rejects = await warehouse.read_rejects("r-outside")
    (reason,) = rejects["reason"].to_list()
    assert "partition column `at`" in reason
    assert "outside the run's partition [2024-01-01T00:00:00, 2024-01-02T00:00:00)" in reason
    assert rejects["source"].to_list() == ["orders_2024-01-01.csv"]


async def test_a_partitioned_run_without_its_window_is_refused(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    write_partitions(tmp_path, {DAYS[0]: day_rows(DAYS[0], 1)})
    with pytest.raises(PartitionRequired) as raised:
        await run(templated(tmp_path), warehouse, PARTITIONED, params={"partition": "2024-01-01"})
    assert "partition_start" in raised.value.message
    assert not await warehouse.table_exists("orders")


@pytest.mark.parametrize(
    ("destination", "extra", "words"),
    [
        ({"mode": "replace_partition"}, {}, "needs partition_column"),
        ({"mode": "merge", "keys": ["id"], "partition_column": "at"}, {}, "only mode"),
        (
            {"mode": "replace_partition", "partition_column": "at"},
            {"incremental": {"cursor": "at"}},
            "cannot be incremental",
        ),
    ],
)
def test_replace_partition_is_checked_in_the_spec(
    destination: dict[str, Any], extra: dict[str, Any], words: str
) -> None:
    with pytest.raises(SpecInvalid) as raised:
        parse_spec({"destination": {"table": "orders", **destination}, **extra})
    assert words in raised.value.message


# Each operation: (backfill or a normal run, which day). Normal runs of the merge
# pipeline follow the watermark; a model of it says what they load.
operations = st.lists(st.tuples(st.booleans(), st.sampled_from(DAYS)), min_size=1, max_size=4)
# At least a row a day: a header-only CSV types every column as text.
day_sizes = st.fixed_dictionaries({day: st.integers(1, 3) for day in DAYS})


def expected_rows(
    spec: dict[str, Any], rows: Mapping[date, list[tuple[Any, ...]]], ops: list[tuple[bool, date]]
) -> list[tuple[Any, ...]]:
    """What the table must hold: every row of the partitions loaded, exactly once."""
    table: dict[int, tuple[Any, ...]] = {}
    watermark: datetime | None = None
    for backfill, day in ops:
        incremental = spec is MERGE and not backfill
        for row in rows[day]:
            if not incremental or watermark is None or row[1] > watermark:
                table[row[0]] = row
        if incremental and rows[day]:
            highest = max(row[1] for row in rows[day])
            watermark = highest if watermark is None else max(watermark, highest)
    return sorted(table.values())


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=operations, sizes=day_sizes, partitioned=st.booleans(), repeat=st.integers(1, 2))
def test_any_sequence_of_backfills_and_runs_loads_each_row_once(
    tmp_path: Path,
    ops: list[tuple[bool, date]],
    sizes: dict[date, int],
    partitioned: bool,
    repeat: int,
) -> None:
    spec = PARTITIONED if partitioned else MERGE
    directory = tmp_path / uuid.uuid4().hex
    directory.mkdir()
    rows = {day: day_rows(day, sizes[day]) for day in DAYS}
    write_partitions(directory, rows)

    async def play() -> list[tuple[Any, ...]]:
        warehouse = open_warehouse(f"duckdb:///{directory / 'warehouse.duckdb'}")
        try:
            for backfill, day in ops * repeat:
                await one_run(warehouse, templated(directory), spec, day, backfill)
            return await loaded(warehouse)
        finally:
            await warehouse.close()

    assert asyncio.run(play()) == expected_rows(spec, rows, ops * repeat)


async def test_a_zoned_partition_column_is_windowed_in_utc(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    # 00:30 at +01:00 on Jan 2 is 23:30 UTC on Jan 1: day 1's. 23:30 at -01:00 on Jan 1
    # is 00:30 UTC on Jan 2: not day 1's (rejected).
    (tmp_path / "orders_2024-01-01.csv").write_text(
        "id,at,value\n"
        "1,2024-01-01T10:00:00+00:00,a\n"
        "2,2024-01-02T00:30:00+01:00,b\n"
        "3,2024-01-01T23:30:00-01:00,c\n"
    )
    for _ in range(2):
        result = await one_run(warehouse, templated(tmp_path), PARTITIONED, DAYS[0], True)
        assert (result.rows_written, result.rows_rejected) == (2, 1)
    assert sorted((await warehouse.read_table("orders"))["id"].to_list()) == [1, 2]
