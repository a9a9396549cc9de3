"""Column type names a spec may use, and which type changes are safe widenings."""

from __future__ import annotations

import re

import polars as pl

_SIMPLE: dict[str, pl.DataType] = {
    "Int8": pl.Int8(),
    "Int16": pl.Int16(),
    "Int32": pl.Int32(),
    "Int64": pl.Int64(),
    "UInt8": pl.UInt8(),
    "UInt16": pl.UInt16(),
    "UInt32": pl.UInt32(),
    "UInt64": pl.UInt64(),
    "Float32": pl.Float32(),
    "Float64": pl.Float64(),
    "Boolean": pl.Boolean(),
    "String": pl.String(),
    "Date": pl.Date(),
    "Time": pl.Time(),
    "Datetime": pl.Datetime("us"),
}
_DECIMAL = re.compile(r"^Decimal\(\s*(\d{1,2})\s*,\s*(\d{1,2})\s*\)$")
_ZONED = re.compile(r"^Datetime\(\s*([A-Za-z_]+(?:/[A-Za-z_+-]+)*)\s*\)$")

TYPE_NAMES_RULE = (
    f"one of {', '.join(_SIMPLE)}, Decimal(precision, scale) or Datetime(time zone), "
    "e.g. Datetime(UTC)"
)

_SIGNED = (pl.Int8(), pl.Int16(), pl.Int32(), pl.Int64())
_UNSIGNED = (pl.UInt8(), pl.UInt16(), pl.UInt32(), pl.UInt64())
# Integers a float holds exactly: Float32 has a 24-bit mantissa, Float64 53 bits.
_EXACT_IN_FLOAT32 = (pl.Int8(), pl.Int16(), pl.UInt8(), pl.UInt16())


def parse_type(name: str) -> pl.DataType | None:
    """The Polars type a spec's type name stands for, or None when it names none."""
    if name in _SIMPLE:
        return _SIMPLE[name]
    if match := _DECIMAL.fullmatch(name):
        precision, scale = int(match[1]), int(match[2])
        return pl.Decimal(precision, scale) if 0 < precision <= 38 and scale <= precision else None
    if match := _ZONED.fullmatch(name):
        return pl.Datetime("us", match[1])
    return None


def type_name(dtype: pl.DataType) -> str:
    """A short name for messages, in the spec's own vocabulary where it has one."""
    if isinstance(dtype, pl.Decimal):
        return f"Decimal({dtype.precision}, {dtype.scale})"
    if isinstance(dtype, pl.Datetime):
        return f"Datetime({dtype.time_zone})" if dtype.time_zone else "Datetime"
    return str(dtype)


def _integer_rank(dtype: pl.DataType) -> tuple[bool, int] | None:
    """(signed, bits) for an integer type, else None."""
    if dtype in _SIGNED:
        return True, 8 * 2 ** _SIGNED.index(dtype)
    if dtype in _UNSIGNED:
        return False, 8 * 2 ** _UNSIGNED.index(dtype)
    return None


def _integer_widens(source: pl.DataType, target: pl.DataType) -> bool:
    source_rank, target_rank = _integer_rank(source), _integer_rank(target)
    if source_rank is None or target_rank is None:
        return False
    (source_signed, source_bits), (target_signed, target_bits) = source_rank, target_rank
    if source_signed == target_signed:
        return source_bits <= target_bits
    # Unsigned fits a signed type only with a bit to spare; signed never fits unsigned.
    return not source_signed and source_bits < target_bits


def widens(source: pl.DataType, target: pl.DataType) -> bool:
    """Whether every value of `source` is kept exactly (or as its text) in `target`."""
    if source == target or target == pl.String:
        return True
    if source == pl.Null:
        return True
    if _integer_widens(source, target):
        return True
    if _integer_rank(source) is not None:
        if target == pl.Float64:
            return True
        if target == pl.Float32:
            return source in _EXACT_IN_FLOAT32
        if isinstance(target, pl.Decimal):
            return target.precision - target.scale >= 20
    if source == pl.Float32 and target == pl.Float64:
        return True
    if isinstance(source, pl.Decimal) and isinstance(target, pl.Decimal):
        whole = source.precision - source.scale <= target.precision - target.scale
        return whole and source.scale <= target.scale
    if source == pl.Date and isinstance(target, pl.Datetime):
        return target.time_zone is None
    return False
