"""Mapping Polars types to DuckDB column types (DuckDB stores most of them natively)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

_SIMPLE: dict[pl.DataType, str] = {
    pl.Int8(): "TINYINT",
    pl.Int16(): "SMALLINT",
    pl.Int32(): "INTEGER",
    pl.Int64(): "BIGINT",
    pl.UInt8(): "UTINYINT",
    pl.UInt16(): "USMALLINT",
    pl.UInt32(): "UINTEGER",
    pl.UInt64(): "UBIGINT",
    pl.Float32(): "FLOAT",
    pl.Float64(): "DOUBLE",
    pl.Boolean(): "BOOLEAN",
    pl.String(): "VARCHAR",
    pl.Date(): "DATE",
    pl.Time(): "TIME",
    pl.Binary(): "BLOB",
}
_TIMESTAMPS = {"us": "TIMESTAMP", "ms": "TIMESTAMP_MS", "ns": "TIMESTAMP_NS"}


def duck_type(dtype: pl.DataType) -> str:
    """The DuckDB column type for a Polars type; text for anything without one."""
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else _TIMESTAMPS[dtype.time_unit or "us"]
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision}, {dtype.scale})"
    if isinstance(dtype, pl.Duration):
        return "INTERVAL"
    if isinstance(dtype, (pl.List, pl.Array)):
        return f"{duck_type(_instance(dtype.inner))}[]"
    if isinstance(dtype, pl.Struct):
        fields = ", ".join(f'"{f.name}" {duck_type(_instance(f.dtype))}' for f in dtype.fields)
        return f"STRUCT({fields})"
    return _SIMPLE.get(dtype, "VARCHAR")


def _instance(dtype: PolarsDataType) -> pl.DataType:
    """Polars allows a bare type class (pl.Int64) where it means an instance."""
    return dtype if isinstance(dtype, pl.DataType) else dtype()


def duck_stored_dtype(dtype: pl.DataType) -> pl.DataType:
    """The type a column of `dtype` reads back as from DuckDB (in a UTC session)."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        return pl.Datetime("us", "UTC")
    if isinstance(dtype, pl.Duration):
        return pl.Duration("us")
    if isinstance(dtype, (pl.List, pl.Array, pl.Struct)):
        return dtype
    if isinstance(dtype, (pl.Datetime, pl.Decimal)) or dtype in _SIMPLE:
        return dtype
    return pl.String()
