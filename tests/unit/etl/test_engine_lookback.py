"""Late rows: `incremental.lookback` re-reads a window behind the watermark, and merge
keys make the re-read idempotent (DuckDB)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from app.errors import SpecInvalid
from app.etl.spec import parse_spec, validate_against_schema
from app.etl.warehouse import open_warehouse
from tests.unit.etl.engine_helpers import csv_source, run

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from app.etl.warehouse import Warehouse


def spec(cursor: str, lookback: Any, mode: str = "merge") -> dict[str, Any]:
    keys = {"keys": ["id"]} if mode == "merge" else {}
    return {
        "destination": {"table": "events", "mode": mode, **keys},
        "incremental": {"cursor": cursor, "lookback": lookback},
    }


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[Warehouse]:
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    yield warehouse
    await warehouse.close()


async def ids(warehouse: Warehouse) -> list[int]:
    return sorted((await warehouse.read_table("events"))["id"].to_list())


FIRST = "id,at,seq\n1,2024-05-01T10:00:00,10\n2,2024-05-01T12:00:00,20\n"
# Row 3 commits after the first run with an older cursor value than its watermark.
LATE = FIRST + "3,2024-05-01T11:30:00,17\n"


@pytest.mark.parametrize(("cursor", "lookback"), [("at", "1h"), ("seq", 5)])
async def test_a_late_row_is_loaded_by_the_next_run_and_nothing_is_duplicated(
    tmp_path: Path, warehouse: Warehouse, cursor: str, lookback: Any
) -> None:
    pipeline = spec(cursor, lookback)
    first = await run(csv_source(tmp_path, "e.csv", FIRST), warehouse, pipeline, pipeline_id="p")
    second = await run(csv_source(tmp_path, "e.csv", LATE), warehouse, pipeline, pipeline_id="p")
    third = await run(csv_source(tmp_path, "e.csv", LATE), warehouse, pipeline, pipeline_id="p")

    assert await ids(warehouse) == [1, 2, 3]
    # Row 2 is re-read inside the window and replaced on its key, not added again.
    assert (second.rows_read, second.rows_written, second.rows_filtered) == (3, 2, 1)
    # The stored watermark never moves back.
    assert first.watermark == second.watermark == third.watermark
    assert second.watermark in (datetime(2024, 5, 1, 12), 20)


async def test_without_lookback_the_late_row_is_skipped(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    # What lookback is for: the strict `>` on the watermark never reads row 3.
    pipeline = {**spec("at", None)}
    await run(csv_source(tmp_path, "e.csv", FIRST), warehouse, pipeline, pipeline_id="p")
    await run(csv_source(tmp_path, "e.csv", LATE), warehouse, pipeline, pipeline_id="p")
    assert await ids(warehouse) == [1, 2]


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        (spec("at", "2h", "append"), ["incremental", "lookback"], "needs mode merge with keys"),
        (spec("at", "2 hours"), ["incremental", "lookback"], "not a duration like"),
        (spec("at", -3), ["incremental", "lookback"], "positive number"),
        (spec("at", True), ["incremental", "lookback"], "a duration like 2h or a number"),
    ],
)
def test_a_lookback_that_could_duplicate_or_does_not_parse_is_refused(
    raw: dict[str, Any], path: list[str], words: str
) -> None:
    with pytest.raises(SpecInvalid) as raised:
        parse_spec(raw)
    assert raised.value.path == path
    assert words in raised.value.message


@pytest.mark.parametrize(
    ("cursor", "lookback", "words"),
    [("seq", "2h", "needs a date or datetime cursor"), ("at", 5, "needs a numeric cursor")],
)
def test_a_lookback_must_suit_the_cursor(cursor: str, lookback: Any, words: str) -> None:
    schema = pl.Schema({"id": pl.Int64(), "at": pl.Datetime("us"), "seq": pl.Int64()})
    with pytest.raises(SpecInvalid) as raised:
        validate_against_schema(parse_spec(spec(cursor, lookback)), schema)
    assert raised.value.path == ["incremental", "lookback"]
    assert words in raised.value.message
