"""Mapping Polars types to PostgreSQL columns and back, and batches to COPY CSV."""

from __future__ import annotations

import io

import polars as pl

from app.errors import WarehouseError

_SIMPLE: dict[pl.DataType, str] = {
    pl.Int8(): "smallint",
    pl.Int16(): "smallint",
    pl.Int32(): "integer",
    pl.Int64(): "bigint",
    pl.UInt8(): "smallint",
    pl.UInt16(): "integer",
    pl.UInt32(): "bigint",
    pl.UInt64(): "numeric(20, 0)",
    pl.Float32(): "real",
    pl.Float64(): "double precision",
    pl.Boolean(): "boolean",
    pl.String(): "text",
    pl.Date(): "date",
    pl.Time(): "time",
}

_NESTED = (pl.List, pl.Array, pl.Struct)


def pg_type(dtype: pl.DataType) -> str:
    """The PostgreSQL column type for a Polars type; anything unmapped is stored as text."""
    if isinstance(dtype, pl.Datetime):
        return "timestamptz" if dtype.time_zone else "timestamp"
    if isinstance(dtype, pl.Decimal):
        return f"numeric({dtype.precision}, {dtype.scale})"
    if isinstance(dtype, pl.Duration):
        return "interval"
    if dtype == pl.Binary:
        return "bytea"
    return _SIMPLE.get(dtype, "text")


def _as_copy_text(name: str, dtype: pl.DataType) -> pl.Expr | None:
    """An expression turning a column Polars cannot write as COPY-ready CSV into text."""
    if isinstance(dtype, _NESTED) or dtype == pl.Object:
        raise WarehouseError(
            f"column `{name}` has type {dtype}, which the warehouse cannot store; "
            "derive a scalar column from it instead"
        )
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone:
        # Written as UTC wall time; the load's session time zone is UTC.
        return column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    if isinstance(dtype, pl.Duration):
        return column.dt.total_microseconds().cast(pl.String) + " microseconds"
    if dtype == pl.Binary:
        return "\\x" + column.bin.encode("hex")
    if pg_type(dtype) == "text" and dtype != pl.String:
        return column.cast(pl.String)
    return None


def encode_csv(batch: pl.DataFrame) -> bytes:
    """The batch as headerless CSV that PostgreSQL's COPY reads back to the same values.

    Polars writes nulls as empty fields and empty strings as `""`, which is exactly how
    COPY's CSV format tells them apart. Fractions of seconds are written only when not
    zero: shorter timestamps are measurably cheaper for the server to parse.
    """
    conversions = [
        expression.alias(name)
        for name, dtype in batch.schema.items()
        if (expression := _as_copy_text(name, dtype)) is not None
    ]
    frame = batch.with_columns(conversions) if conversions else batch
    buffer = io.BytesIO()
    frame.write_csv(
        buffer,
        include_header=False,
        datetime_format="%Y-%m-%d %H:%M:%S%.f",
        time_format="%H:%M:%S%.f",
    )
    return buffer.getvalue()


def polars_type(data_type: str, precision: int | None, scale: int | None) -> pl.DataType:
    """How a column read back from PostgreSQL is typed (booleans are read as text)."""
    if data_type == "numeric" and precision is not None and precision <= 38:
        return pl.Decimal(precision, scale or 0)
    return {
        "smallint": pl.Int16(),
        "integer": pl.Int32(),
        "bigint": pl.Int64(),
        "real": pl.Float32(),
        "double precision": pl.Float64(),
        "date": pl.Date(),
        "time without time zone": pl.Time(),
        "timestamp without time zone": pl.Datetime("us"),
        "timestamp with time zone": pl.Datetime("us", "UTC"),
    }.get(data_type, pl.String())


_STORED: dict[str, pl.DataType] = {
    "smallint": pl.Int16(),
    "integer": pl.Int32(),
    "bigint": pl.Int64(),
    "real": pl.Float32(),
    "double precision": pl.Float64(),
    "boolean": pl.Boolean(),
    "text": pl.String(),
    "date": pl.Date(),
    "time": pl.Time(),
    "time without time zone": pl.Time(),
    "timestamp": pl.Datetime("us"),
    "timestamp without time zone": pl.Datetime("us"),
    "timestamptz": pl.Datetime("us", "UTC"),
    "timestamp with time zone": pl.Datetime("us", "UTC"),
    "interval": pl.Duration("us"),
    "bytea": pl.Binary(),
}


def column_dtype(data_type: str, precision: int | None, scale: int | None) -> pl.DataType:
    """The Polars type of a stored column, from `information_schema.columns`.

    Unlike `polars_type` (how a read types it), this is faithful: it is what a load
    compares incoming types with. Types DataFlow never creates come back as Unknown.
    """
    if data_type == "numeric":
        if precision is None or precision > 38:
            return pl.Unknown()
        return pl.Decimal(precision, scale or 0)
    return _STORED.get(data_type, pl.Unknown())


def stored_dtype(dtype: pl.DataType) -> pl.DataType:
    """The type a column of `dtype` has once stored in PostgreSQL."""
    sql = pg_type(dtype)
    if sql.startswith("numeric("):
        precision, scale = (int(part) for part in sql[8:-1].split(","))
        return pl.Decimal(precision, scale)
    return _STORED[sql]
