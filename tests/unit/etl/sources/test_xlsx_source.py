"""The xlsx kind through `open_reader`: sheets, header rows, globs, types and bad workbooks."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from app.errors import SourceInvalid, SourceMalformed
from app.etl.sources import ROW_COLUMN, SOURCE_COLUMN, ReadContext
from app.etl.sources.preview import preview_source
from tests.unit.etl.sources.readers import data_only, file_source, read_all, read_batches
from tests.unit.etl.sources.workbooks import write_workbook

if TYPE_CHECKING:
    from pathlib import Path

ORDERS: list[list[Any]] = [
    ["order_id", "status", "quantity", "unit_price", "ordered_at"],
    [1, "paid", 2, 1.5, datetime(2026, 1, 2, 10, 30)],
    [2, "cancelled", 1, 3.0, datetime(2026, 1, 3, 8, 0)],
    [3, "shipped", 5, 4.5, datetime(2026, 1, 4, 23, 59, 59)],
]


async def test_a_named_sheet_is_read_under_its_title_rows_with_its_types(tmp_path: Path) -> None:
    sheets = {"Notes": [["not the data"]], "Orders": [["Orders, January"], [], *ORDERS]}
    write_workbook(tmp_path / "orders.xlsx", sheets)
    config = file_source("xlsx", "orders.xlsx", tmp_path, sheet="Orders", skip_rows=2)
    frame = await read_all(config)
    assert data_only(frame).schema == pl.Schema(
        {
            "order_id": pl.Int64(),
            "status": pl.String(),
            "quantity": pl.Int64(),
            "unit_price": pl.Float64(),
            "ordered_at": pl.Datetime("ms"),
        }
    )
    assert data_only(frame).rows() == [tuple(row) for row in ORDERS[1:]]
    assert frame[SOURCE_COLUMN].to_list() == ["orders.xlsx"] * 3
    assert frame[ROW_COLUMN].to_list() == [1, 2, 3]  # records, as for parquet and JSON


async def test_the_first_sheet_is_read_unless_a_position_says_otherwise(tmp_path: Path) -> None:
    write_workbook(tmp_path / "book.xlsx", {"A": [["n"], [1]], "B": [["n"], [2]]})
    first = await read_all(file_source("xlsx", "book.xlsx", tmp_path))
    second = await read_all(file_source("xlsx", "book.xlsx", tmp_path, sheet=2))
    assert data_only(first)["n"].to_list() == [1]
    assert data_only(second)["n"].to_list() == [2]


async def test_a_glob_of_workbooks_is_read_in_name_order_in_batches(tmp_path: Path) -> None:
    for part in (2, 1):
        rows = [[f"{part}-{i}", i] for i in range(5)]
        write_workbook(tmp_path / "parts" / f"part-{part}.xlsx", {"Sheet1": [["id", "n"], *rows]})
    schema, batches = await read_batches(file_source("xlsx", "parts/*.xlsx", tmp_path), None, 3)
    assert schema == pl.Schema({"id": pl.String(), "n": pl.Int64()})
    assert [batch.height for batch in batches] == [3, 3, 3, 1]
    frame = pl.concat(batches)
    assert frame["id"].to_list() == [f"{part}-{i}" for part in (1, 2) for i in range(5)]
    assert frame[SOURCE_COLUMN].unique(maintain_order=True).to_list() == [
        "parts/part-1.xlsx",
        "parts/part-2.xlsx",
    ]


async def test_without_a_header_columns_are_numbered(tmp_path: Path) -> None:
    write_workbook(tmp_path / "raw.xlsx", {"S": [["export of 2026-01"], [1, "a"], [2, "b"]]})
    config = file_source("xlsx", "raw.xlsx", tmp_path, header=False, skip_rows=1)
    frame = data_only(await read_all(config))
    assert frame.to_dict(as_series=False) == {"column_0": [1, 2], "column_1": ["a", "b"]}


async def test_infer_types_false_reads_every_cell_as_text(tmp_path: Path) -> None:
    write_workbook(tmp_path / "t.xlsx", {"S": [["id", "price"], [1, 2.5], [2, "n/a"]]})
    frame = data_only(await read_all(file_source("xlsx", "t.xlsx", tmp_path, infer_types=False)))
    assert frame.schema == pl.Schema({"id": pl.String(), "price": pl.String()})
    assert frame["price"].to_list() == ["2.5", "n/a"]


async def test_a_missing_sheet_is_invalid_and_names_the_sheets_there_are(tmp_path: Path) -> None:
    write_workbook(tmp_path / "book.xlsx", {"Orders": [["n"], [1]], "Notes": [["x"]]})
    for sheet in ("Order", 3):
        with pytest.raises(SourceInvalid) as raised:
            await read_all(file_source("xlsx", "book.xlsx", tmp_path, sheet=sheet))
        assert raised.value.code == "SOURCE_INVALID"
        assert raised.value.path == ["options", "sheet"]
        assert raised.value.message.endswith("its sheets are: Orders, Notes")


async def test_a_file_that_is_not_a_workbook_is_malformed_and_named(tmp_path: Path) -> None:
    (tmp_path / "fake.xlsx").write_text("order_id,status\n1,paid\n")
    with pytest.raises(SourceMalformed) as raised:
        await read_all(file_source("xlsx", "fake.xlsx", tmp_path))
    assert raised.value.code == "SOURCE_MALFORMED"
    assert raised.value.message.startswith("fake.xlsx, not a readable Excel workbook")


async def test_a_workbook_past_max_bytes_is_refused(tmp_path: Path) -> None:
    write_workbook(tmp_path / "big.xlsx", {"S": [["n"], *([i] for i in range(100))]})
    with pytest.raises(SourceMalformed) as raised:
        await read_all(file_source("xlsx", "big.xlsx", tmp_path, max_bytes=1024))
    assert "over max_bytes (1024 bytes)" in raised.value.message


def test_options_are_checked_when_the_source_is_parsed(tmp_path: Path) -> None:
    with pytest.raises(SourceInvalid) as raised:
        file_source("xlsx", "a.xlsx", tmp_path, sheet_name="Orders")
    assert raised.value.path == ["options", "sheet_name"]
    assert "xlsx options are: union_by_name, sheet, header, skip_rows" in raised.value.message
    with pytest.raises(SourceInvalid) as raised:
        file_source("xlsx", "a.xlsx", tmp_path, sheet=0)
    assert raised.value.path[:2] == ["options", "sheet"]
    with pytest.raises(SourceInvalid) as raised:
        file_source("xlsx", "../a.xlsx", tmp_path)
    assert "escapes the allowed roots" in raised.value.message


async def test_preview_returns_the_first_rows_without_locations(tmp_path: Path) -> None:
    write_workbook(tmp_path / "orders.xlsx", {"Orders": ORDERS})
    config = file_source("xlsx", "orders.xlsx", tmp_path)
    frame = await preview_source(config, ReadContext(), 2)
    assert frame.columns == ORDERS[0]
    assert frame["order_id"].to_list() == [1, 2]
