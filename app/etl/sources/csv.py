"""The CSV format: a schema from the header and a sample, then the rows in whole-record blocks."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import polars as pl

from app.errors import SourceInvalid, SourceMalformed, SourceUnreadable
from app.etl.sources.config import CsvSource
from app.etl.sources.csv_chunks import Chunk, iter_chunks
from app.etl.sources.csv_diagnose import describe_failure
from app.etl.sources.csv_header import check_header
from app.etl.sources.csv_rows import with_row_reasons
from app.etl.sources.reader import REASON_COLUMN, ROW_COLUMN
from app.etl.sources.temporal import infer_temporal_types, parse_temporal, text_schema

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from app.etl.sources.config import SourceConfig
    from app.etl.sources.options import CsvOptions

# Types are inferred from this much of the file; later values must fit them.
SAMPLE_BYTES = 4 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"
# Integers past 64 bits: no warehouse column holds them, so they stay text.
_WIDER_THAN_WAREHOUSES = (pl.Int128(), pl.UInt128())
_MIN_BLOCK = 64 * 1024
# Reads are sized from the rows seen so far, but never past this: one huge record early
# on must not make the next read rows x its width (a 10 MB field: gigabytes).
MAX_BLOCK = 32 * 1024 * 1024


def sample_csv_schema(handle: BinaryIO, options: CsvOptions) -> pl.Schema:
    """Columns from the header, typed from a sample; a column with no value is `Null`."""
    header = _read_header(handle, options)
    check_header(header, options)
    sample = next(_chunks(handle, options, lambda: SAMPLE_BYTES), Chunk(b"", 0)).data
    if not options.header and not sample:
        raise SourceMalformed("the file is empty; expected at least one row")
    try:
        frame = pl.read_csv(
            header + sample,
            has_header=options.header,
            infer_schema=options.infer_types,
            infer_schema_length=None,
            raise_if_empty=False,
            **options.polars_options(),
        )
    except pl.exceptions.PolarsError as error:
        names = _header_schema(header, options)
        raise _malformed(Chunk(sample, _first_line(options)), names, options, error) from None
    schema = infer_temporal_types(frame) if options.infer_types else frame.schema
    for name in frame.columns:
        if frame[name].null_count() == frame.height:
            schema[name] = pl.Null()  # no evidence: files of a glob may say more
        elif schema[name] in _WIDER_THAN_WAREHOUSES:
            schema[name] = pl.String()  # kept exact, as text; a contract may cast it
    return schema


def csv_frames(
    handle: BinaryIO, options: CsvOptions, schema: pl.Schema, batch_rows: int
) -> Iterator[pl.DataFrame]:
    """The file's rows typed by `schema` (its columns, in file order), with ROW_COLUMN.

    Memory stays bounded by about one block of raw bytes plus its parsed frame. A row
    that does not parse raises `SourceMalformed` naming its line.
    """
    rows_seen, bytes_seen = 0, 0

    def block_bytes() -> int:
        # A small first block measures the row width; later blocks aim a little under
        # batch_rows so a parsed block rarely needs splitting.
        if not rows_seen:
            return min(_MIN_BLOCK * 16, batch_rows * 100)
        return min(MAX_BLOCK, max(_MIN_BLOCK, int(batch_rows * bytes_seen / rows_seen * 0.97)))

    _read_header(handle, options)
    for chunk in _chunks(handle, options, block_bytes):
        frame = _parse_chunk(chunk, schema, options)
        rows_seen, bytes_seen = rows_seen + frame.height, bytes_seen + len(chunk.data)
        yield frame


def _chunks(
    handle: BinaryIO, options: CsvOptions, block_bytes: Callable[[], int]
) -> Iterator[Chunk]:
    if not options.header:
        _skip_bom(handle)
    quote = options.quote_char.encode() if options.quote_char else None
    return iter_chunks(
        handle,
        quote=quote,
        first_line=_first_line(options),
        block_bytes=block_bytes,
    )


def _parse_chunk(chunk: Chunk, schema: pl.Schema, options: CsvOptions) -> pl.DataFrame:
    try:
        # A short first row must not make Polars take the block for fewer columns: its
        # missing fields are null, and the row is rejected by `with_row_reasons`.
        text = pl.read_csv(
            chunk.data,
            has_header=False,
            schema=text_schema(schema),
            missing_columns="insert",
            **options.polars_options(),
        )
        frame = parse_temporal(text, schema).with_columns(_line_numbers(chunk, text))
    except pl.exceptions.PolarsError as error:
        raise _malformed(chunk, schema, options, error) from None
    return with_row_reasons(frame, text, chunk, options)


def _line_numbers(chunk: Chunk, text: pl.DataFrame) -> pl.Series:
    """Each row's line: its position, plus line breaks inside quoted fields before it."""
    first = chunk.first_line
    breaks = chunk.data.count(b"\n") + (0 if chunk.data.endswith(b"\n") else 1)
    lines = pl.int_range(first, first + text.height, dtype=pl.Int64, eager=True)
    if breaks == text.height or not text.height:
        return lines.alias(ROW_COLUMN)
    inside = text.select(
        pl.sum_horizontal(pl.col(pl.String).str.count_matches("\n", literal=True).fill_null(0))
    ).to_series()
    before = inside.cum_sum().shift(1, fill_value=0).cast(pl.Int64)
    return (lines + before).alias(ROW_COLUMN)


def _header_schema(header: bytes, options: CsvOptions) -> pl.Schema:
    """The header's columns, all as text: enough to locate a ragged row in the sample."""
    if not header:
        return pl.Schema()
    names = pl.read_csv(header, n_rows=0, **options.polars_options()).columns
    return pl.Schema(dict.fromkeys(names, pl.String))


def _first_line(options: CsvOptions) -> int:
    return 2 if options.header else 1


def _malformed(
    chunk: Chunk, schema: pl.Schema, options: CsvOptions, error: Exception
) -> SourceMalformed:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    message = describe_failure(chunk, schema, options, reason) if schema else reason
    return SourceMalformed(message)


def _skip_bom(handle: BinaryIO) -> None:
    peek = getattr(handle, "peek", None)
    if peek is not None and peek(3)[:3] == _BOM:
        handle.read(3)


def _read_header(handle: BinaryIO, options: CsvOptions) -> bytes:
    """The header line (BOM removed), or b"" when the file has no header."""
    if not options.header:
        return b""
    line = handle.readline(MAX_HEADER_BYTES + 1)
    if not line.strip(b"\r\n" + _BOM):
        raise SourceMalformed("the file is empty; expected a header line")
    if len(line) > MAX_HEADER_BYTES:
        raise SourceMalformed("line 1: the header is over 1 MiB")
    quote = options.quote_char.encode() if options.quote_char else None
    if quote is not None and line.count(quote) % 2:
        raise SourceMalformed("line 1: the header has an unterminated quote")
    return line.removeprefix(_BOM)


def final_schema(schema: pl.Schema) -> pl.Schema:
    """`schema` with columns no value typed (`Null`) read as String."""
    return pl.Schema({name: pl.String() if d == pl.Null else d for name, d in schema.items()})


# --- one local file, synchronously (the previews and services still call these) --------


def read_csv_schema(config: SourceConfig) -> pl.Schema:
    """Column names from the header and types inferred from a sample of the rows."""
    source = _single_csv(config)
    with _open(source.path) as handle:
        return final_schema(sample_csv_schema(handle, source.options))


def iter_csv_batches(
    config: SourceConfig, batch_rows: int, *, schema: pl.Schema | None = None
) -> Iterator[pl.DataFrame]:
    """Stream the file as DataFrames of at most `batch_rows` rows, typed by `schema`."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    source = _single_csv(config)
    schema = schema or read_csv_schema(source)
    with _open(source.path) as handle:
        for frame in csv_frames(handle, source.options, schema, batch_rows):
            yield from frame.drop(ROW_COLUMN, REASON_COLUMN, strict=False).iter_slices(batch_rows)


def _single_csv(config: SourceConfig) -> CsvSource:
    if not isinstance(config, CsvSource):
        raise SourceInvalid(f"a {config.kind} source is read through open_reader")
    return config


@contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    # The path was confined when the source was parsed; a symlink planted since then
    # must not redirect the read.
    if os.path.realpath(path) != str(path):
        raise SourceInvalid(
            f"{path} is not a resolved path (a link, or relative); parse the source again"
        )
    try:
        with Path(path).open("rb") as handle:
            yield handle
    except OSError as error:  # opening, or reading later: either way the file is unreadable
        raise SourceUnreadable(
            f"cannot read {path}: {error.strerror or error}", details={"path": str(path)}
        ) from None
