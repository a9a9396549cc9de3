"""CSV rows that parse but must not load as read: too few fields, NUL bytes in values.

Polars fills the missing fields of a short row with nulls and keeps NUL bytes, so both
would load altered (or, on PostgreSQL, fail the whole load). Each is found with
vectorised Polars operations, and only when a cheap test on the block says it may be
there, so the common clean block costs nothing extra.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import polars as pl

from app.etl.sources.reader import LOCATION_COLUMNS, REASON_COLUMN

if TYPE_CHECKING:
    from app.etl.sources.files.csv_chunks import Chunk
    from app.etl.sources.files.options import CsvOptions

_NUL = "\x00"


def with_row_reasons(
    frame: pl.DataFrame, text: pl.DataFrame, chunk: Chunk, options: CsvOptions
) -> pl.DataFrame:
    """`frame` with REASON_COLUMN: why each row of `text` (its parse as read) is bad, or
    null. Always there, so the contract knows these rows were checked for NUL bytes."""
    reasons = [*_short_rows(text, chunk, options), *_nul_bytes(text, chunk)]
    if not reasons:
        return frame.with_columns(pl.lit(None, pl.String).alias(REASON_COLUMN))
    return frame.with_columns(text.select(pl.coalesce(reasons).alias(REASON_COLUMN)).to_series())


def _short_rows(text: pl.DataFrame, chunk: Chunk, options: CsvOptions) -> list[pl.Expr]:
    expected = text.width
    # A short row has null in its last column: with none there, no row is short.
    if expected < 2 or not text.height or not text.get_column(text.columns[-1]).null_count():
        return []
    counts = field_counts(chunk.data, options)
    if counts.len() != text.height:  # cannot happen for a block Polars parsed; stay safe
        return []
    got = pl.lit(counts)
    return [
        pl.when(got < expected).then(
            pl.concat_str(pl.lit(f"expected {expected} fields, got "), got.cast(pl.String))
        )
    ]


def field_counts(data: bytes, options: CsvOptions) -> pl.Series:
    """Fields in each record of `data` (whole records); a blank line has none.

    Quoted runs are replaced first (a doubled quote inside a field splits it into two
    adjacent runs), so the separators and line breaks left are the record's own.
    """
    text = pl.Series("record", [data.decode("utf-8", errors="replace")])
    if options.quote_char and options.quote_char.encode() in data:
        quote = re.escape(options.quote_char)
        # Each quoted run becomes one plain character: `""` is a field, not a blank line.
        text = text.str.replace_all(f"{quote}[^{quote}]*{quote}", "q")
    records = text.str.split("\n").explode()
    if data.endswith(b"\n"):
        records = records.head(-1)
    separators = records.str.count_matches(options.delimiter, literal=True).cast(pl.Int64)
    blank = records.str.strip_chars_end("\r").str.len_bytes() == 0
    return (
        pl.select(pl.when(blank).then(0).otherwise(separators + 1).alias("fields"))
        .to_series()
        .cast(pl.Int64)
    )


def _nul_bytes(text: pl.DataFrame, chunk: Chunk) -> list[pl.Expr]:
    # One search of the raw block spares the per-column search of clean blocks.
    if b"\x00" not in chunk.data:
        return []
    return nul_byte_reasons(text.schema)


def nul_byte_reasons(schema: pl.Schema) -> list[pl.Expr]:
    """Why a row is bad when a text value holds a NUL byte: PostgreSQL text cannot hold
    one while DuckDB can, so both warehouses reject such rows alike."""
    return [
        pl.when(pl.col(name).str.contains(_NUL, literal=True)).then(
            pl.lit(f"NUL byte in column `{name}`")
        )
        for name, dtype in schema.items()
        if dtype == pl.String and name not in LOCATION_COLUMNS
    ]
