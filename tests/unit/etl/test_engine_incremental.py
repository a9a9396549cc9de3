"""Incremental loads on DuckDB: each run takes only rows past the watermark it stored."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

import pytest

from app.etl import engine
from app.etl.sources.reader import open_reader
from app.etl.warehouse import ledger, open_warehouse
from tests.unit.etl.engine_helpers import csv_source, run

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from app.etl.sources import SourceConfig
    from app.etl.sources.reader import ReadContext, SourceReader
    from app.etl.warehouse import Warehouse

SPEC: dict[str, Any] = {
    "destination": {"table": "events", "mode": "merge", "keys": ["id"]},
    "incremental": {"cursor": "at"},
}
FIRST = "id,at,value\n1,2024-05-01T10:00:00,a\n2,2024-05-02T10:00:00,b\n"
# Row 2 is re-sent unchanged (at the watermark: skipped); row 3 is new; row 1 comes back
# with a newer timestamp (an update).
SECOND = FIRST + "3,2024-05-03T10:00:00,c\n1,2024-05-04T10:00:00,A\n"


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[Warehouse]:
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    yield warehouse
    await warehouse.close()


def events(tmp_path: Path, text: str) -> SourceConfig:
    return csv_source(tmp_path, "events.csv", text)


async def test_a_second_run_loads_only_newer_rows(tmp_path: Path, warehouse: Warehouse) -> None:
    first = await run(events(tmp_path, FIRST), warehouse, SPEC, pipeline_id="p1")
    assert first.watermark == datetime(2024, 5, 2, 10)

    second = await run(events(tmp_path, SECOND), warehouse, SPEC, pipeline_id="p1")

    assert (second.rows_read, second.rows_written, second.rows_filtered) == (4, 2, 2)
    assert second.watermark == datetime(2024, 5, 4, 10)
    loaded = (await warehouse.read_table("events")).sort("id")
    assert loaded.select("id", "value").rows() == [(1, "A"), (2, "b"), (3, "c")]


async def test_nothing_new_loads_nothing_and_keeps_the_watermark(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    await run(events(tmp_path, FIRST), warehouse, SPEC, pipeline_id="p1")
    again = await run(events(tmp_path, FIRST), warehouse, SPEC, pipeline_id="p1")
    assert (again.rows_written, again.rows_filtered) == (0, 2)
    assert again.watermark == datetime(2024, 5, 2, 10)


async def test_watermarks_are_kept_per_pipeline(tmp_path: Path, warehouse: Warehouse) -> None:
    await run(events(tmp_path, FIRST), warehouse, SPEC, pipeline_id="p1")
    other = await run(events(tmp_path, FIRST), warehouse, SPEC, pipeline_id="p2")
    assert other.rows_written == 2


async def test_the_reader_is_given_the_watermark(
    tmp_path: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    contexts: list[ReadContext] = []

    def spy(config: SourceConfig, context: ReadContext) -> SourceReader:
        contexts.append(context)
        return open_reader(config, context)

    monkeypatch.setattr(engine, "open_reader", spy)
    await run(events(tmp_path, FIRST), warehouse, SPEC, pipeline_id="p1", params={"day": "x"})
    await run(events(tmp_path, SECOND), warehouse, SPEC, pipeline_id="p1")
    assert contexts[0].watermark is None
    assert contexts[0].params == {"day": "x"}
    assert contexts[1].watermark is not None
    assert (contexts[1].watermark.column, contexts[1].watermark.value) == (
        "at",
        datetime(2024, 5, 2, 10),
    )


async def test_a_failed_commit_moves_neither_the_rows_nor_the_watermark(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    """The watermark is written in the transaction that applies the rows: make that
    transaction's last statement fail, and both stay where they were."""
    await run(events(tmp_path, FIRST), warehouse, SPEC, pipeline_id="p1")
    with (
        patch.object(ledger, "mark_applied", side_effect=RuntimeError("commit failed")),
        pytest.raises(RuntimeError, match="commit failed"),
    ):
        await run(events(tmp_path, SECOND), warehouse, SPEC, pipeline_id="p1", run_id="r2")
    loaded = (await warehouse.read_table("events")).sort("id")
    assert loaded.select("id", "value").rows() == [(1, "a"), (2, "b")]

    retry = await run(events(tmp_path, SECOND), warehouse, SPEC, pipeline_id="p1")
    assert retry.rows_written == 2  # the same two rows as the failed run's, not fewer
    loaded = (await warehouse.read_table("events")).sort("id")
    assert loaded.select("id", "value").rows() == [(1, "A"), (2, "b"), (3, "c")]


async def test_a_row_without_a_cursor_value_is_rejected(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    text = FIRST + "4,,d\n"
    result = await run(events(tmp_path, text), warehouse, SPEC, pipeline_id="p1", run_id="r1")
    assert result.rows_rejected == 1
    rejects = await warehouse.read_rejects("r1")
    assert rejects.select("row_number", "reason").rows() == [
        (4, "column `at` is required but missing")
    ]
