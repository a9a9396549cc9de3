"""Finding the line behind a CSV parse failure, so the error can name it (error path)."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from app.etl.sources.files.csv_chunks import Chunk
    from app.etl.sources.files.options import CsvOptions


def describe_failure(chunk: Chunk, schema: pl.Schema, options: CsvOptions, reason: str) -> str:
    """A message naming the first bad line of `chunk`, or its line range when unknown.

    Polars reports what failed but not where; this re-reads only the failing chunk.
    """
    for diagnose in (_bad_encoding, _ragged_record, _bad_value):
        found = diagnose(chunk, schema, options)
        if found:
            return found
    if chunk.first_line == chunk.last_line:
        return f"line {chunk.first_line}: {reason}"
    return f"lines {chunk.first_line}-{chunk.last_line}: {reason}"


def _bad_encoding(chunk: Chunk, schema: pl.Schema, options: CsvOptions) -> str | None:
    del schema
    if options.encoding != "utf8":
        return None
    try:
        chunk.data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = chunk.first_line + chunk.data.count(b"\n", 0, error.start)
        return (
            f"line {line}: invalid UTF-8 byte sequence (set encoding to utf8-lossy to replace it)"
        )
    return None


def _ragged_record(chunk: Chunk, schema: pl.Schema, options: CsvOptions) -> str | None:
    expected = len(schema)
    reader = csv.reader(
        io.StringIO(chunk.data.decode("utf-8", errors="replace"), newline=""),
        delimiter=options.delimiter,
        quotechar=options.quote_char or '"',
        quoting=csv.QUOTE_MINIMAL if options.quote_char else csv.QUOTE_NONE,
        strict=False,
    )
    start = 1
    for record in reader:
        if len(record) > expected:
            line = chunk.first_line + start - 1
            return f"line {line}: expected {expected} fields, found {len(record)}"
        start = reader.line_num + 1
    return None


def _bad_value(chunk: Chunk, schema: pl.Schema, options: CsvOptions) -> str | None:
    """The first value that does not parse as its column's type."""
    try:
        text = pl.read_csv(
            chunk.data,
            has_header=False,
            schema=dict.fromkeys(schema.names(), pl.String),
            missing_columns="insert",
            **options.polars_options(),
        )
    except pl.exceptions.PolarsError:
        return None
    first: tuple[int, str] | None = None
    for name, dtype in schema.items():
        bad = (text[name].is_not_null() & ~_parses_as(text[name], dtype)).arg_true()
        if len(bad) and (first is None or bad[0] < first[0]):
            first = (int(bad[0]), name)
    if first is None:
        return None
    row, name = first
    line = chunk.first_line + row + _embedded_line_breaks(text, row)
    value = text[name][row]
    return f"line {line}: column `{name}` expected {schema[name]}, got {value!r}"


def _parses_as(values: pl.Series, dtype: pl.DataType) -> pl.Series:
    if dtype == pl.String:
        return pl.repeat(True, len(values), eager=True)
    if dtype == pl.Boolean:
        return values.str.to_lowercase().is_in(["true", "false"])
    if isinstance(dtype, pl.Datetime):
        return values.str.to_datetime(time_unit=dtype.time_unit, strict=False).is_not_null()
    if dtype == pl.Date:
        return values.str.to_date(strict=False).is_not_null()
    return values.cast(dtype, strict=False).is_not_null()


def _embedded_line_breaks(text: pl.DataFrame, row: int) -> int:
    """Line breaks inside quoted fields of the rows before `row`: each one is a line."""
    if row == 0 or not text.width:
        return 0
    counts = text.head(row).select(
        pl.sum_horizontal(pl.all().str.count_matches("\n", literal=True).fill_null(0))
    )
    return int(counts.to_series().sum())
