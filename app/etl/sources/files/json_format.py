"""The `json` and `ndjson` kinds: an array of objects per file (parsed whole), or NDJSON (lines)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, BinaryIO, Literal

import polars as pl
from pydantic import Field

from app.errors import SourceMalformed
from app.etl.sources.files.config import FileSource
from app.etl.sources.files.options import JsonOptions
from app.etl.sources.flatten import as_text, flatten_structs
from app.etl.sources.reader import ROW_COLUMN
from app.etl.sources.reconcile import sample_schema
from app.json_depth import MAX_JSON_DEPTH, JsonTooDeep, check_json_depth, json_depth

if TYPE_CHECKING:
    from collections.abc import Iterator

    from app.etl.sources.files.format import FileFormat

SAMPLE_BYTES = 4 * 1024 * 1024
BLOCK_BYTES = 8 * 1024 * 1024
# A line without an end this long is not a record; stop before it eats memory.
MAX_LINE_BYTES = 64 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"


def _records(frame: pl.DataFrame, options: JsonOptions) -> pl.DataFrame:
    frame = flatten_structs(frame, options.flatten_depth)
    return frame if options.infer_types else as_text(frame)


class NdjsonFormat:
    seekable = False
    row_label = "line"

    def __init__(self, options: JsonOptions) -> None:
        self._options = options

    def sample(self, handle: BinaryIO) -> pl.Schema:
        block = next(_line_blocks(handle, SAMPLE_BYTES), None)
        if block is None:
            return pl.Schema()
        return sample_schema(
            _records(_parse_lines(*block), self._options), self._options.infer_types
        )

    def frames(
        self, handle: BinaryIO, file_schema: pl.Schema, target: pl.Schema, batch_rows: int
    ) -> Iterator[pl.DataFrame]:
        del file_schema, target, batch_rows  # frames are conformed by the caller
        for data, first_line in _line_blocks(handle, BLOCK_BYTES):
            frame = _parse_lines(data, first_line)
            yield _records(frame, self._options)


def _line_blocks(handle: BinaryIO, block_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines with the line number of their first line."""
    pending, line = _skip_bom(handle), 1
    while block := handle.read(block_bytes):
        data = pending + block if pending else block
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) > MAX_LINE_BYTES:
                raise SourceMalformed(f"line {line}: a line is longer than {MAX_LINE_BYTES} bytes")
            pending = data
            continue
        yield data[:cut], line
        line += data.count(b"\n", 0, cut)
        pending = data[cut:]
    if pending.strip():
        yield pending, line


def _parse_lines(data: bytes, first_line: int) -> pl.DataFrame:
    _check_lines_depth(data, first_line)
    try:
        frame = pl.read_ndjson(data, infer_schema_length=None)
    except pl.exceptions.PolarsError as error:
        raise _bad_line(data, first_line, error) from None
    return frame.with_columns(_line_numbers(data, first_line, frame.height))


def _line_numbers(data: bytes, first_line: int, rows: int) -> pl.Series:
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines == rows:
        return pl.int_range(first_line, first_line + rows, dtype=pl.Int64, eager=True).alias(
            ROW_COLUMN
        )
    # Blank lines hold no record: number the lines that do.
    text = pl.Series([data.decode("utf-8", errors="replace")]).str.split("\n").explode()
    filled = text.str.strip_chars().str.len_bytes() > 0
    return (filled.arg_true().cast(pl.Int64) + first_line).alias(ROW_COLUMN)


def _check_lines_depth(data: bytes, first_line: int) -> None:
    """Refuse a line nested too deep, by its number (the error path parses in Python)."""
    if json_depth(data) <= MAX_JSON_DEPTH:
        return
    for offset, line in enumerate(data.split(b"\n")):
        try:
            check_json_depth(line)
        except JsonTooDeep as error:
            raise SourceMalformed(
                f"line {first_line + offset}: {error}",
                details={"line": first_line + offset, "depth": error.depth},
            ) from None


def _bad_line(data: bytes, first_line: int, error: Exception) -> SourceMalformed:
    """Name the first line that is not a JSON object (error path: Python may go per line)."""
    for offset, line in enumerate(data.split(b"\n")):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except UnicodeDecodeError:
            return SourceMalformed(f"line {first_line + offset}: invalid UTF-8")
        except json.JSONDecodeError as failure:
            return SourceMalformed(
                f"line {first_line + offset}: invalid JSON ({failure.msg} at column "
                f"{failure.colno})",
                details={"line": first_line + offset},
            )
        if not isinstance(value, dict):
            return SourceMalformed(
                f"line {first_line + offset}: expected a JSON object, got {type(value).__name__}"
            )
    last = first_line + data.count(b"\n")
    return SourceMalformed(f"lines {first_line}-{last}: {str(error).splitlines()[0]}")


class JsonArrayFormat:
    seekable = False
    row_label = "record"

    def __init__(self, options: JsonOptions) -> None:
        self._options = options

    def sample(self, handle: BinaryIO) -> pl.Schema:
        frame = _records(self._parse(handle), self._options)
        return sample_schema(frame, self._options.infer_types)

    def frames(
        self, handle: BinaryIO, file_schema: pl.Schema, target: pl.Schema, batch_rows: int
    ) -> Iterator[pl.DataFrame]:
        del file_schema, target
        frame = _records(self._parse(handle), self._options)
        yield from frame.iter_slices(batch_rows)

    def _parse(self, handle: BinaryIO) -> pl.DataFrame:
        limit = self._options.max_bytes
        data = _skip_bom(handle) + handle.read(limit + 1)
        if len(data) > limit:
            raise SourceMalformed(
                f"the file is over max_bytes ({limit} bytes): a JSON array is parsed whole; "
                "use the ndjson kind for large data, or raise max_bytes"
            )
        start = data.lstrip()[:1]
        if not start:
            raise SourceMalformed("the file is empty; expected a JSON array of objects")
        if start != b"[":
            raise SourceMalformed(
                "expected a JSON array of objects (for one object per line use kind ndjson)"
            )
        try:
            check_json_depth(data)
        except JsonTooDeep as error:
            raise SourceMalformed(
                f"the document is {error}", details={"depth": error.depth}
            ) from None
        try:
            frame = pl.read_json(data, infer_schema_length=None)
        except pl.exceptions.PolarsError as error:
            raise _bad_document(data, error) from None
        rows = pl.int_range(1, frame.height + 1, dtype=pl.Int64, eager=True)
        return frame.with_columns(rows.alias(ROW_COLUMN))


def _bad_document(data: bytes, error: Exception) -> SourceMalformed:
    try:
        value = json.loads(data)
    except UnicodeDecodeError as failure:
        line = data.count(b"\n", 0, failure.start) + 1
        return SourceMalformed(f"line {line}: invalid UTF-8", details={"line": line})
    except json.JSONDecodeError as failure:
        return SourceMalformed(
            f"line {failure.lineno}, column {failure.colno}: invalid JSON ({failure.msg})",
            details={"line": failure.lineno},
        )
    if isinstance(value, list):
        for index, item in enumerate(value, start=1):
            if not isinstance(item, dict):
                return SourceMalformed(
                    f"record {index}: expected a JSON object, got {type(item).__name__}"
                )
    return SourceMalformed(f"cannot read the JSON array: {str(error).splitlines()[0]}")


def _skip_bom(handle: BinaryIO) -> bytes:
    """Consume a UTF-8 byte order mark; return what was read that was not one."""
    head = handle.read(3)
    return b"" if head == _BOM else head


class JsonSource(FileSource):
    """A JSON array of objects per file."""

    kind: Literal["json"] = "json"
    options: JsonOptions = Field(default_factory=JsonOptions)

    def file_format(self) -> FileFormat:
        return JsonArrayFormat(self.options)


class NdjsonSource(FileSource):
    """One JSON object per line."""

    kind: Literal["ndjson"] = "ndjson"
    options: JsonOptions = Field(default_factory=JsonOptions)

    def file_format(self) -> FileFormat:
        return NdjsonFormat(self.options)
