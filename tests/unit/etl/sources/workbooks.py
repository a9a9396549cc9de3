"""Real .xlsx workbooks for the xlsx kind's tests, written with XlsxWriter."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import xlsxwriter  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path


def workbook_bytes(sheets: Mapping[str, Sequence[Sequence[Any]]]) -> bytes:
    """A workbook with one sheet per entry, each row written from its first cell."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    formats = {
        datetime: book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        date: book.add_format({"num_format": "yyyy-mm-dd"}),
    }
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for row, values in enumerate(rows):
            for column, value in enumerate(values):
                # An Excel date is a number with a date format: without one it reads as a float.
                cell_format = formats.get(type(value))
                sheet.write(row, column, value, cell_format)
    book.close()
    return buffer.getvalue()


def write_workbook(path: Path, sheets: Mapping[str, Sequence[Sequence[Any]]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(workbook_bytes(sheets))
    return path
