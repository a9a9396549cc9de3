"""Incremental loads: the cursor spec, and watermark values kept as text in the warehouse."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from app.etl.contract_types import parse_type, type_name

# Cursor columns must be ordered for "newer than the watermark" to mean something.
ORDERED_TYPES = "integers, floats, decimals, dates, datetimes and strings"


class Incremental(BaseModel):
    """`incremental: {cursor: column}`: each run loads only rows newer than the last."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cursor: str = Field(min_length=1)


def is_ordered(dtype: pl.DataType) -> bool:
    return (
        dtype.is_numeric()
        or dtype in (pl.Date, pl.String)
        or isinstance(dtype, (pl.Datetime, pl.Decimal))
    )


def encode_value(value: Any, dtype: pl.DataType) -> tuple[str, str]:
    """(text, type name) for one cursor value; `decode_value` gives the value back."""
    if isinstance(value, (datetime, date, time)):
        text = value.isoformat()
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    return text, type_name(dtype)


def decode_value(text: str, type_text: str) -> Any:
    dtype = parse_type(type_text)
    if dtype is None:
        raise ValueError(f"unknown watermark type {type_text!r}")
    if isinstance(dtype, pl.Datetime):
        return datetime.fromisoformat(text)
    if dtype == pl.Date:
        return date.fromisoformat(text)
    if isinstance(dtype, pl.Decimal):
        return Decimal(text)
    if dtype.is_integer():
        return int(text)
    if dtype.is_float():
        return float(text)
    return text


def newer_than(column: str, value: Any, dtype: pl.DataType) -> pl.Expr:
    """Rows past the watermark (rows without a cursor value are rejected before this)."""
    return pl.col(column) > pl.lit(value, dtype=dtype)


def batch_maximum(frame: pl.DataFrame, column: str) -> Any:
    """The largest cursor value in a batch, or None (a single value, not a row loop)."""
    if column not in frame.columns or not frame.height:
        return None
    return frame.get_column(column).max()
