"""The `csv` kind: a schema from the header and a sample, then the rows in whole-record blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Literal

import polars as pl
from pydantic import Field

from app.errors import SourceMalformed
from app.etl.sources.files.config import FileSource
from app.etl.sources.files.csv_chunks import Chunk, iter_chunks
from app.etl.sources.files.csv_diagnose import describe_failure
from app.etl.sources.files.csv_header import check_header
from app.etl.sources.files.csv_rows import with_row_reasons
from app.etl.sources.files.options import CsvOptions
from app.etl.sources.reader import ROW_COLUMN
from app.etl.sources.temporal import infer_temporal_types, parse_temporal, text_schema

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from app.etl.sources.files.format import FileFormat

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


class CsvFormat:
    seekable = False
    row_label = "line"

    def __init__(self, options: CsvOptions) -> None:
        self._options = options

    def sample(self, handle: BinaryIO) -> pl.Schema:
        return sample_csv_schema(handle, self._options)

    def frames(
        self, handle: BinaryIO, file_schema: pl.Schema, target: pl.Schema, batch_rows: int
    ) -> Iterator[pl.DataFrame]:
        # Parsed straight into the reconciled types (an Int column of a glob whose other
        # files hold floats is read as Float64), in this file's own column order.
        parse = pl.Schema({name: target[name] for name in file_schema})
        return csv_frames(handle, self._options, parse, batch_rows)


class CsvSource(FileSource):
    kind: Literal["csv"] = "csv"
    options: CsvOptions = Field(default_factory=CsvOptions)

    def file_format(self) -> FileFormat:
        return CsvFormat(self.options)
