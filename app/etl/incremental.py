"""Incremental loads: the cursor spec, and watermark values kept as text in the warehouse."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from app.etl.contract_types import parse_type, type_name

# Cursor columns must be ordered for "newer than the watermark" to mean something.
ORDERED_TYPES = "integers, floats, decimals, dates, datetimes and strings"


_DURATION = re.compile(r"([1-9][0-9]{0,5})([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class Incremental(BaseModel):
    """`incremental: {cursor: column, lookback: "2h"}`: each run loads only rows newer
    than the last run's watermark, less the lookback (a duration for a date or datetime
    cursor, a number for a numeric one), so rows that commit late with an older cursor
    value are still read; merge keys make the re-read idempotent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cursor: str = Field(min_length=1)
    lookback: str | int | float | None = None

    @field_validator("lookback", mode="before")
    @classmethod
    def _a_duration_or_a_number(cls, value: object) -> object:
        # Checked before pydantic's union, which would take true for 1 and report a list
        # against each member of the union.
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (str, int, float))
        ):
            raise PydanticCustomError(
                "lookback", "lookback must be a duration like 2h or a number", {}
            )
        return value

    @field_validator("lookback")
    @classmethod
    def _lookback_shape(cls, value: str | float | None) -> str | float | None:
        if isinstance(value, str) and not _DURATION.fullmatch(value):
            raise PydanticCustomError(
                "lookback",
                "'{value}' is not a duration like 30s, 15m, 2h or 7d",
                {"value": value},
            )
        if isinstance(value, (int, float)) and not (0 < value < float("inf")):
            raise PydanticCustomError(
                "lookback", "a numeric lookback must be a positive number", {}
            )
        return value

    def lookback_delta(self) -> timedelta | None:
        """The lookback as a duration, when it is one."""
        if not isinstance(self.lookback, str):
            return None
        match = _DURATION.fullmatch(self.lookback)
        assert match is not None  # checked by the validator
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})

    def fits(self, dtype: pl.DataType) -> str | None:
        """Why the lookback does not suit a cursor of `dtype`, or None when it does."""
        if self.lookback is None:
            return None
        temporal = dtype == pl.Date or isinstance(dtype, pl.Datetime)
        if isinstance(self.lookback, str) and not temporal:
            return f"a duration lookback needs a date or datetime cursor, not {dtype}"
        if not isinstance(self.lookback, str) and not dtype.is_numeric():
            return f"a numeric lookback needs a numeric cursor, not {dtype} (use e.g. 2h)"
        return None

    def behind(self, value: Any) -> Any:
        """`value` moved back by the lookback (the watermark a run filters with)."""
        if self.lookback is None:
            return value
        delta = self.lookback_delta()
        if delta is not None and isinstance(value, datetime):
            return value - delta
        if delta is not None and isinstance(value, date):
            # Whole days, at least one: the filter is strict, so less would re-read nothing.
            return value - timedelta(days=max(1, math.ceil(delta / timedelta(days=1))))
        back = self.lookback
        if delta is None and back is not None and not isinstance(back, str):
            if isinstance(value, Decimal):
                return value - Decimal(str(back))
            if isinstance(value, int):
                return value - math.ceil(back)
            if isinstance(value, float):
                return value - back
        return value


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
