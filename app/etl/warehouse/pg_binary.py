"""Batches as PostgreSQL's binary COPY format, built column by column (no row loop).

The server is the bottleneck of a load, and binary COPY spares it the text parsing of
numbers and timestamps: measured here, COPY of the benchmark's clean rows took 9.0 s in
binary against 12.0 s as CSV. Each column becomes an Arrow array of its fields (a 4-byte
big-endian length, then the value in network order); Arrow's element-wise join then
lays the fields out row by row. A batch with a type that has no encoding here returns
None, and is sent as CSV instead.
"""

from __future__ import annotations

import array
import sys
from datetime import date, datetime

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
TRAILER = b"\xff\xff"
_NULL = pa.scalar(b"\xff\xff\xff\xff", pa.large_binary())
_EMPTY = pa.scalar(b"", pa.large_binary())
_PG_EPOCH_US = int((datetime(2000, 1, 1) - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
_PG_EPOCH_DAYS = (date(2000, 1, 1) - date(1970, 1, 1)).days
_SWAP = sys.byteorder == "little"

# (physical Polars type, array typecode, width) per PostgreSQL column type.
_FIXED = {
    "smallint": (pl.Int16(), "h", 2),
    "integer": (pl.Int32(), "i", 4),
    "bigint": (pl.Int64(), "q", 8),
    "real": (pl.Float32(), "f", 4),
    "double precision": (pl.Float64(), "d", 8),
    "boolean": (pl.UInt8(), "B", 1),
    "date": (pl.Int32(), "i", 4),
    "time": (pl.Int64(), "q", 8),
    "timestamp": (pl.Int64(), "q", 8),
    "timestamptz": (pl.Int64(), "q", 8),
}


def encode_binary(frame: pl.DataFrame, sql_types: list[str]) -> bytes | None:
    """The batch in COPY BINARY form, for columns of these PostgreSQL types; or None."""
    parts: list[pa.Array | pa.Scalar] = [_constant(frame.width.to_bytes(2, "big"))]
    for series, sql_type in zip(frame.get_columns(), sql_types, strict=True):
        fields = _fields(series, sql_type)
        if fields is None:
            return None
        parts.extend(fields)
    if not frame.height:
        return HEADER + TRAILER
    rows = pc.binary_join_element_wise(*parts, _EMPTY)
    offsets = array.array("q", bytes(rows.buffers()[1]))
    start, end = offsets[rows.offset], offsets[rows.offset + frame.height]
    return b"".join((HEADER, memoryview(rows.buffers()[2])[start:end], TRAILER))


def _fields(series: pl.Series, sql_type: str) -> list[pa.Array | pa.Scalar] | None:
    if sql_type == "text":
        if series.dtype not in (pl.String, pl.Categorical, pl.Null) and not isinstance(
            series.dtype, pl.Enum
        ):
            return None
        return [_text(series.cast(pl.String))]
    fixed = _FIXED.get(sql_type)
    if fixed is None:
        return None
    physical, code, width = fixed
    values = _physical(series, sql_type).cast(physical)
    data = _big_endian(values.fill_null(0), code, width)
    if not series.null_count():
        return [_constant(width.to_bytes(4, "big")), data]
    present = pc.binary_join_element_wise(_constant(width.to_bytes(4, "big")), data, _EMPTY)
    return [pc.if_else(series.is_not_null().to_arrow(), present, _NULL)]


def _physical(series: pl.Series, sql_type: str) -> pl.Series:
    """The number PostgreSQL stores: days or microseconds since 2000-01-01, and so on."""
    if sql_type == "date":
        return series.cast(pl.Int32) - _PG_EPOCH_DAYS
    if sql_type in ("timestamp", "timestamptz"):
        # A zoned datetime's number is already UTC, which is what timestamptz holds.
        return series.dt.cast_time_unit("us").cast(pl.Int64) - _PG_EPOCH_US
    if sql_type == "time":
        return series.cast(pl.Int64) // 1000  # Polars counts nanoseconds
    return series


def _big_endian(values: pl.Series, code: str, width: int) -> pa.Array:
    arrow = values.to_arrow()
    buffer = arrow.buffers()[1]
    numbers = array.array(code)
    numbers.frombytes(
        memoryview(buffer)[arrow.offset * width : (arrow.offset + len(values)) * width]
    )
    if _SWAP and width > 1:
        numbers.byteswap()
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(values), [None, pa.py_buffer(numbers)]
    )
    return fixed.cast(pa.large_binary())


def _text(series: pl.Series) -> pa.Array:
    filled = series.fill_null("")
    lengths = _big_endian(filled.str.len_bytes().cast(pl.Int32), "i", 4)
    text = filled.to_arrow().cast(pa.large_string()).cast(pa.large_binary())
    present = pc.binary_join_element_wise(lengths, text, _EMPTY)
    if not series.null_count():
        return present
    return pc.if_else(series.is_not_null().to_arrow(), present, _NULL)


def _constant(value: bytes) -> pa.Scalar:
    return pa.scalar(value, pa.large_binary())
