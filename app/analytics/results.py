"""DuckDB rows to what the API returns: lists of JSON values, times as ISO text."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from app.analytics.compiler import ResultColumn


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _number(value: Any) -> Any:
    # DECIMAL sums come back as Decimal, which JSON cannot carry.
    return float(value) if isinstance(value, Decimal) else value


def to_rows(
    raw: list[tuple[Any, ...]], columns: Sequence[ResultColumn], sql_types: Sequence[str]
) -> list[list[Any]]:
    """Convert only the columns that need it, a column at a time."""
    converters: list[Callable[[Any], Any] | None] = []
    for column, sql_type in zip(columns, sql_types, strict=True):
        if column.type == "time":
            converters.append(_iso)
        elif sql_type.startswith("DECIMAL"):
            converters.append(_number)
        else:
            converters.append(None)
    if not raw or all(convert is None for convert in converters):
        return [list(row) for row in raw]
    by_column = [
        list(values) if convert is None else list(map(convert, values))
        for values, convert in zip(zip(*raw, strict=True), converters, strict=True)
    ]
    return [list(row) for row in zip(*by_column, strict=True)]


def estimate_bytes(rows: list[list[Any]]) -> int:
    """Roughly what the rows hold in memory (for the cache's budget), without a walk over
    every value: list overheads plus text lengths, sampled."""
    if not rows:
        return 128
    width = len(rows[0])
    sample = rows[:: max(1, len(rows) // 64)]
    text = sum(len(value) for row in sample for value in row if isinstance(value, str))
    per_row = 56 + 8 * width + 32 * width + text // len(sample)
    return 256 + per_row * len(rows)
