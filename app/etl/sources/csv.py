"""The CSV reader: the schema from a sample, then the file in bounded batches."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import polars as pl

from app.errors import SourceInvalid, SourceMalformed, SourceUnreadable
from app.etl.sources.csv_chunks import Chunk, iter_chunks
from app.etl.sources.csv_diagnose import describe_failure
from app.etl.sources.temporal import infer_temporal_types, parse_temporal, text_schema

if TYPE_CHECKING:
    from collections.abc import Iterator

    from app.etl.sources import SourceConfig

# Types are inferred from this much of the file; later values must fit them.
SAMPLE_BYTES = 4 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_MIN_BLOCK = 64 * 1024


def read_csv_schema(config: SourceConfig) -> pl.Schema:
    """Column names from the header and types inferred from a sample of the rows."""
    with _open(config) as handle:
        header = _read_header(handle, config)
        sample = _first_chunk(handle, config)
    try:
        frame = pl.read_csv(
            header + sample,
            has_header=config.options.header,
            infer_schema_length=None,
            raise_if_empty=False,
            **config.options.polars_options(),
        )
    except pl.exceptions.PolarsError as error:
        names = _header_schema(header, config)
        raise _malformed(Chunk(sample, _first_data_line(config)), names, config, error) from None
    return infer_temporal_types(frame)


def _first_chunk(handle: BinaryIO, config: SourceConfig) -> bytes:
    """About SAMPLE_BYTES of whole records from the start of the data."""
    chunks = iter_chunks(
        handle,
        quote=_quote(config),
        first_line=_first_data_line(config),
        block_bytes=lambda: SAMPLE_BYTES,
    )
    return next(chunks, Chunk(b"", 0)).data


def _header_schema(header: bytes, config: SourceConfig) -> pl.Schema:
    """The header's columns, all as text: enough to locate a ragged row in the sample."""
    if not header:
        return pl.Schema()
    names = pl.read_csv(header, n_rows=0, **config.options.polars_options()).columns
    return pl.Schema(dict.fromkeys(names, pl.String))


def _first_data_line(config: SourceConfig) -> int:
    return 2 if config.options.header else 1


def iter_csv_batches(
    config: SourceConfig, batch_rows: int, *, schema: pl.Schema | None = None
) -> Iterator[pl.DataFrame]:
    """Stream the file as DataFrames of at most `batch_rows` rows, typed by `schema`.

    Memory stays bounded by about one batch of raw bytes plus its parsed frame. A row
    that does not parse raises `SourceMalformed` naming its line.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    schema = schema or read_csv_schema(config)
    rows_seen, bytes_seen = 0, 0

    def block_bytes() -> int:
        # A small first block measures the row width; later blocks aim a little under
        # batch_rows so a parsed block rarely needs splitting.
        if not rows_seen:
            return min(_MIN_BLOCK * 16, batch_rows * 100)
        return max(_MIN_BLOCK, int(batch_rows * bytes_seen / rows_seen * 0.97))

    with _open(config) as handle:
        _read_header(handle, config)
        chunks = iter_chunks(
            handle,
            quote=_quote(config),
            first_line=_first_data_line(config),
            block_bytes=block_bytes,
        )
        for chunk in chunks:
            frame = _parse_chunk(chunk, schema, config)
            rows_seen, bytes_seen = rows_seen + frame.height, bytes_seen + len(chunk.data)
            yield from frame.iter_slices(batch_rows)


def _parse_chunk(chunk: Chunk, schema: pl.Schema, config: SourceConfig) -> pl.DataFrame:
    try:
        frame = pl.read_csv(
            chunk.data,
            has_header=False,
            schema=text_schema(schema),
            **config.options.polars_options(),
        )
        return parse_temporal(frame, schema)
    except pl.exceptions.PolarsError as error:
        raise _malformed(chunk, schema, config, error) from None


def _malformed(
    chunk: Chunk, schema: pl.Schema, config: SourceConfig, error: Exception
) -> SourceMalformed:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    message = describe_failure(chunk, schema, config.options, reason) if schema else reason
    return SourceMalformed(message, details={"path": str(config.path)})


def _quote(config: SourceConfig) -> bytes | None:
    quote = config.options.quote_char
    return quote.encode() if quote else None


def _read_header(handle: BinaryIO, config: SourceConfig) -> bytes:
    """The header line (BOM removed), or b"" when the file has no header."""
    if not config.options.header:
        return b""
    line = handle.readline(MAX_HEADER_BYTES + 1)
    if not line:
        raise SourceMalformed("the file is empty; expected a header line")
    if len(line) > MAX_HEADER_BYTES:
        raise SourceMalformed("line 1: the header is over 1 MiB")
    quote = _quote(config)
    if quote is not None and line.count(quote) % 2:
        raise SourceMalformed("line 1: the header has an unterminated quote")
    return line.removeprefix(_BOM)


@contextmanager
def _open(config: SourceConfig) -> Iterator[BinaryIO]:
    # The path was confined when the source was parsed; a symlink planted since then
    # must not redirect the read.
    if os.path.realpath(config.path) != str(config.path):
        raise SourceInvalid(
            f"{config.path} is not a resolved path (a link, or relative); parse the source again"
        )
    try:
        with Path(config.path).open("rb") as handle:
            yield handle
    except OSError as error:  # opening, or reading later: either way the file is unreadable
        raise SourceUnreadable(
            f"cannot read {config.path}: {error.strerror or error}",
            details={"path": str(config.path)},
        ) from None
