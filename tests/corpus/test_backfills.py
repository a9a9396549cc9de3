"""Bad-input corpus for backfills, partitions and incremental loads.

Every case is a typed error naming what and where, or rows quarantined with their
reason; on failure the table is as it was; rows read = written + rejected + filtered.
Add a case as one line in the lists below.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from app.errors import DataFlowError
from app.etl.spec import parse_spec, validate_against_schema
from app.etl.warehouse import open_warehouse
from app.services.backfills import refuse_unsafe_mode
from tests.unit.etl.engine_helpers import csv_source, run

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from app.etl.warehouse import Warehouse

PARTITIONED = {"table": "t", "mode": "replace_partition", "partition_column": "at"}
MERGE = {"table": "t", "mode": "merge", "keys": ["id"]}
SCHEMA = pl.Schema({"id": pl.Int64(), "at": pl.Datetime("us"), "seq": pl.Int64()})
WINDOW = {"partition_start": "2024-01-01T00:00:00Z", "partition_end": "2024-01-02T00:00:00Z"}


def dest(**fields: Any) -> dict[str, Any]:
    return {"destination": {"table": "t", **fields}}


def lookback(value: Any, cursor: str = "at", mode: dict[str, Any] = MERGE) -> dict[str, Any]:
    return {"destination": mode, "incremental": {"cursor": cursor, "lookback": value}}


DEST = ["destination", "partition_column"]
BACK = ["incremental", "lookback"]
# (spec, path, words in the message): refused with SPEC_INVALID when it is defined.
SPECS: list[tuple[dict[str, Any], list[str], str]] = [
    (dest(mode="replace_partition"), DEST, "needs partition_column"),
    (dest(mode="merge", keys=["id"], partition_column="at"), DEST, "only mode replace_partition"),
    (dest(mode="replace_partition", partition_column="nope"), DEST, "`nope` is not in the data"),
    (dest(mode="replace_partition", partition_column="seq"), DEST, "dates or datetimes"),
    ({**dest(**PARTITIONED), "incremental": {"cursor": "at"}}, ["incremental"], "incremental"),
    (lookback("2h", mode={"table": "t"}), BACK, "needs mode merge with keys"),
    (lookback(3, mode={"table": "t", "mode": "replace"}), BACK, "with mode replace"),
    (lookback("2 hours"), BACK, "not a duration"),
    (lookback("0h"), BACK, "not a duration"),
    (lookback("1y"), BACK, "not a duration"),
    (lookback(-1), BACK, "positive number"),
    (lookback(1e400), BACK, "positive number"),
    (lookback(True), BACK, "a duration like 2h or a number"),
    (lookback([1]), BACK, "a duration like 2h or a number"),
    (lookback({"h": 2}), BACK, "a duration like 2h or a number"),
    (lookback("2h", cursor="seq"), BACK, "needs a date or datetime cursor"),
    (lookback(5), BACK, "needs a numeric cursor"),
]

START, END = ["params", "partition_start"], ["params", "partition_end"]
ONLY_START = {"partition_start": WINDOW["partition_start"]}
# (run params, path, words): a replace_partition run refused before it writes anything.
WINDOWS: list[tuple[dict[str, Any], list[str], str]] = [
    ({}, START, "partition_start is missing"),
    (ONLY_START, END, "partition_end is missing"),
    ({**WINDOW, "partition_start": "yesterday"}, START, "ISO 8601"),
    ({**WINDOW, "partition_end": "2023-12-31T00:00:00Z"}, END, "after partition_start"),
    ({**WINDOW, "partition_end": WINDOW["partition_start"]}, END, "after partition_start"),
    ({**WINDOW, "partition_start": 20240101}, START, "partition_start is missing"),
    ({**WINDOW, "partition_end": ""}, END, "partition_end is missing"),
]

# (csv rows after the header id,at, rows written, reasons of the rejected rows).
ROWS: list[tuple[list[str], int, list[str]]] = [
    (["1,2024-01-01T00:00:00"], 1, []),
    (["1,2023-12-31T23:59:59", "2,2024-01-01T05:00:00"], 1, ["outside the run's partition"]),
    (["1,2024-01-02T00:00:00", "2,2024-01-01T05:00:00"], 1, ["outside the run's partition"]),
    (["1,", "2,2024-01-01T05:00:00"], 1, ["partition column `at` is null"]),
    (["1,2024-01-01T05:00:00", "2,2025-06-01T00:00:00"], 1, ["outside"]),
    (["1,2024-01-01T05:00:00", "3,1970-01-01T00:00:00"], 1, ["outside"]),
    (["1,2024-01-01T05:00:00", "x,2024-01-01T06:00:00"], 2, []),
]

# (pipeline mode, refused): a backfill over a mode that would lose or duplicate rows.
MODES: list[tuple[str, bool]] = [
    ("replace", True),
    ("append", True),
    ("merge", False),
    ("replace_partition", False),
]


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[Warehouse]:
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    yield warehouse
    await warehouse.close()


@pytest.mark.parametrize(("raw", "path", "words"), SPECS)
def test_a_bad_spec_is_refused_with_its_place(
    raw: dict[str, Any], path: list[str], words: str
) -> None:
    with pytest.raises(DataFlowError) as raised:
        validate_against_schema(parse_spec(raw), SCHEMA)
    assert (raised.value.code, raised.value.path) == ("SPEC_INVALID", path)
    assert words in raised.value.message


@pytest.mark.parametrize(("params", "path", "words"), WINDOWS)
async def test_a_partitioned_run_without_a_good_window_changes_nothing(
    tmp_path: Path, warehouse: Warehouse, params: dict[str, Any], path: list[str], words: str
) -> None:
    spec = {"destination": {**PARTITIONED, "table": "kept"}}
    good = csv_source(tmp_path, "good.csv", "id,at\n1,2024-01-01T05:00:00\n")
    await run(good, warehouse, spec, params=WINDOW)
    with pytest.raises(DataFlowError) as raised:
        await run(good, warehouse, spec, params=params)
    assert (raised.value.code, raised.value.path) == ("PARTITION_REQUIRED", path)
    assert words in raised.value.message
    assert (await warehouse.read_table("kept"))["id"].to_list() == [1]


@pytest.mark.parametrize(("lines", "written", "reasons"), ROWS)
async def test_rows_outside_the_window_are_quarantined_with_their_reason(
    tmp_path: Path, warehouse: Warehouse, lines: list[str], written: int, reasons: list[str]
) -> None:
    run_id = uuid.uuid4().hex
    source = csv_source(tmp_path, "rows.csv", "\n".join(["id,at", *lines]) + "\n")
    result = await run(
        source, warehouse, {"destination": PARTITIONED}, params=WINDOW, run_id=run_id
    )
    assert result.rows_read == result.rows_written + result.rows_rejected + result.rows_filtered
    assert (result.rows_written, result.rows_rejected) == (written, len(reasons))
    rejects = await warehouse.read_rejects(run_id)
    for reason, got in zip(reasons, rejects["reason"].to_list(), strict=True):
        assert reason in got
    assert all(row is not None for row in rejects["row_number"].to_list())


async def test_a_partition_whose_every_row_is_outside_its_window_fails_and_changes_nothing(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    # Every row outside the window is the wrong file for the partition: like a run that
    # rejects every row it read (max_reject_ratio), it fails and the table stays as it was.
    spec = {"destination": {**PARTITIONED, "table": "kept"}}
    await run(
        csv_source(tmp_path, "good.csv", "id,at\n1,2024-01-01T05:00:00\n"),
        warehouse,
        spec,
        params=WINDOW,
    )
    wrong = csv_source(tmp_path, "wrong.csv", "id,at\n2,2023-06-01T00:00:00\n")
    with pytest.raises(DataFlowError) as raised:
        await run(wrong, warehouse, spec, params=WINDOW)
    assert raised.value.code == "CONTRACT_VIOLATION"
    assert (await warehouse.read_table("kept"))["id"].to_list() == [1]


@pytest.mark.parametrize(("mode", "refused"), MODES)
def test_a_backfill_over_an_inexact_mode_is_refused(mode: str, refused: bool) -> None:
    destination: dict[str, Any] = {"table": "t", "mode": mode}
    if not refused:
        return refuse_unsafe_mode("p", {"destination": destination})
    with pytest.raises(DataFlowError) as raised:
        refuse_unsafe_mode("p", {"destination": destination})
    assert (raised.value.code, raised.value.path) == ("BACKFILL_MODE_UNSAFE", ["allowUnsafeMode"])
    assert f"mode {mode}" in raised.value.message
    assert "allowUnsafeMode: true" in raised.value.message
    return None
