"""Casting a column to a declared type, strictly (a step) or leniently (a contract)."""

from __future__ import annotations

import polars as pl

# Text that reads as a boolean, compared in lower case.
BOOLEAN_TEXT = {"true": True, "false": False, "t": True, "f": False, "1": True, "0": False}
BOOLEAN_TEXT.update({"yes": True, "no": False, "y": True, "n": False})


def cast_to(column: pl.Expr, source: pl.DataType, target: pl.DataType, *, strict: bool) -> pl.Expr:
    """`column` as `target`; lenient casts turn what does not fit into null.

    Text is parsed (Polars no longer casts strings to dates), and a float with a
    fraction is not an integer: a lenient cast makes it null rather than truncating it.
    """
    if source == target:
        return column
    if source == pl.String:
        return _from_text(column, target, strict=strict)
    if source.is_float() and target.is_integer() and not strict:
        whole = column == column.floor()
        return pl.when(whole).then(column.cast(target, strict=False))
    return column.cast(target, strict=strict)


def _from_text(column: pl.Expr, target: pl.DataType, *, strict: bool) -> pl.Expr:
    text = column.str.strip_chars()
    if isinstance(target, pl.Datetime):
        return text.str.to_datetime(
            time_unit=target.time_unit, time_zone=target.time_zone, strict=strict
        )
    if target == pl.Date:
        return text.str.to_date(strict=strict)
    if target == pl.Time:
        return text.str.to_time(strict=strict)
    if target == pl.Boolean:
        lowered = text.str.to_lowercase()
        if strict:
            return lowered.replace_strict(BOOLEAN_TEXT, return_dtype=pl.Boolean)
        return lowered.replace_strict(BOOLEAN_TEXT, default=None, return_dtype=pl.Boolean)
    if target.is_numeric():
        return text.cast(target, strict=strict)
    return column.cast(target, strict=strict)
