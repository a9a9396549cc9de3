"""PostgreSQL types as Polars types, and JSON param values as the types Postgres expects."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from app.errors import SourceInvalid

# Types asyncpg decodes to values Polars takes as they are. Everything else is selected
# as text (`::text`), exactly: numeric (arbitrary precision) included, so no digit is
# rounded away; cast it in the query (`::float8`) or the contract for a number.
POLARS_TYPES: dict[str, pl.DataType] = {
    "int2": pl.Int16(),
    "int4": pl.Int32(),
    "int8": pl.Int64(),
    "float4": pl.Float32(),
    "float8": pl.Float64(),
    "bool": pl.Boolean(),
    "text": pl.String(),
    "varchar": pl.String(),
    "bpchar": pl.String(),
    "name": pl.String(),
    "json": pl.String(),
    "jsonb": pl.String(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us"),
    "timestamptz": pl.Datetime("us", "UTC"),
    "time": pl.Time(),
    "interval": pl.Duration("us"),
    "bytea": pl.Binary(),
}
_INTEGERS = {"int2", "int4", "int8", "oid"}
_FLOATS = {"float4", "float8"}


def polars_type(pg_type: str) -> pl.DataType:
    return POLARS_TYPES.get(pg_type, pl.String())


def selects_as_text(pg_type: str) -> bool:
    return pg_type not in POLARS_TYPES


def coerce(value: Any, pg_type: str, where: str) -> Any:
    """A JSON value as the Python type asyncpg binds for `pg_type` (it does not convert)."""
    if value is None:
        return None
    try:
        return _coerce(value, pg_type)
    except (ValueError, TypeError, InvalidOperation):
        raise SourceInvalid(
            f"{where}: {value!r} is not a valid {pg_type}", path=where.split(".")
        ) from None


def _coerce(value: Any, pg_type: str) -> Any:
    text = value.isoformat() if isinstance(value, date | datetime | time) else str(value)
    if pg_type in _INTEGERS:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        return int(value) if isinstance(value, int | float) else int(text)
    if pg_type in _FLOATS:
        return float(text)
    if pg_type == "numeric":
        return Decimal(text)
    if pg_type == "bool":
        if isinstance(value, bool):
            return value
        return {"true": True, "false": False}[text.lower()]
    if pg_type == "date":
        return value if type(value) is date else date.fromisoformat(text[:10])
    if pg_type in {"timestamp", "timestamptz"}:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(text)
        if pg_type == "timestamp" and parsed.tzinfo is not None:
            return parsed.astimezone(UTC).replace(tzinfo=None)
        return parsed
    return text
