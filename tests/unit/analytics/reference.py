"""An independent answer to an analytics query, computed with Polars expressions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import polars as pl

from app.analytics.query import Condition, Group, Operator

if TYPE_CHECKING:
    from app.analytics.query import Filter, Query

EVERY = {"hour": "1h", "day": "1d", "week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}


def utc_naive(value: str | datetime, timezone: str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC).replace(tzinfo=None)


def local(expression: pl.Expr, timezone: str) -> pl.Expr:
    """A naive UTC timestamp as wall time in `timezone`."""
    converted = expression.dt.replace_time_zone("UTC").dt.convert_time_zone(timezone)
    return converted.dt.replace_time_zone(None)


def measure_expr(name: str, definition: str, timezone: str) -> pl.Expr:
    function, column = definition.rstrip(")").split("(")
    if column == "*":
        return pl.len().alias(name)
    col = pl.col(column)
    expressions = {
        "sum": pl.when(col.count() > 0).then(col.sum()),
        "avg": col.mean(),
        "min": col.min(),
        "max": col.max(),
        "count": col.count(),
        "count_distinct": col.drop_nulls().n_unique(),
    }
    expression = expressions[function]
    if function in {"min", "max"} and column == "ts":
        expression = local(expression, timezone)
    return expression.alias(name)


def condition_expr(item: Filter, timezone: str, time_member: str) -> pl.Expr:
    if isinstance(item, Group):
        parts = [condition_expr(child, timezone, time_member) for child in item.items]
        combined = parts[0]
        for part in parts[1:]:
            combined = (combined & part) if item.kind == "and" else (combined | part)
        return combined
    assert isinstance(item, Condition)
    col = pl.col(item.member)
    values: list[Any] = list(item.values)
    if item.member == time_member:
        values = [utc_naive(str(v), timezone) for v in values]
    op = item.operator
    if op in {Operator.EQUALS, Operator.IN}:
        return col.is_in(values)
    if op in {Operator.NOT_EQUALS, Operator.NOT_IN}:
        return ~col.is_in(values) | col.is_null()
    if op is Operator.SET:
        return col.is_not_null()
    if op is Operator.NOT_SET:
        return col.is_null()
    comparisons = {
        Operator.GT: col.__gt__,
        Operator.GTE: col.__ge__,
        Operator.LT: col.__lt__,
        Operator.LTE: col.__le__,
    }
    if op in comparisons:
        return comparisons[op](values[0])
    lowered = col.str.to_lowercase()
    matchers = {
        Operator.CONTAINS: lambda v: lowered.str.contains(v, literal=True),
        Operator.STARTS_WITH: lowered.str.starts_with,
        Operator.ENDS_WITH: lowered.str.ends_with,
    }
    found = [matchers[op](str(v).lower()) for v in values]
    result = found[0]
    for other in found[1:]:
        result = result | other
    return result


def answer(
    frame: pl.DataFrame, query: Query, measures: dict[str, str], time_member: str = "ts"
) -> list[list[Any]]:
    """Rows as the API returns them (times as ISO text), in no particular order."""
    tz = query.timezone
    lazy = frame.lazy()
    time = query.time_dimension
    if time is not None and time.start is not None:
        lazy = lazy.filter(pl.col(time_member) >= utc_naive(time.start, tz))
    if time is not None and time.end is not None:
        lazy = lazy.filter(pl.col(time_member) < utc_naive(time.end, tz))
    having = [f for f in query.filters if _names(f) <= set(measures)]
    for item in query.filters:
        if item not in having:
            lazy = lazy.filter(condition_expr(item, tz, time_member))
    keys: list[str] = []
    if time is not None and time.granularity is not None:
        bucket = local(pl.col(time_member), tz).dt.truncate(EVERY[time.granularity.value])
        lazy = lazy.with_columns(bucket.alias("__bucket"))
        keys.append("__bucket")
    keys += list(query.dimensions)
    aggregates = [measure_expr(name, text, tz) for name, text in measures.items()]
    out = lazy.group_by(keys).agg(aggregates) if keys else lazy.select(aggregates)
    for item in having:
        out = out.filter(condition_expr(item, tz, time_member))
    result = out.select([*keys, *query.measures]).collect()
    return [[_plain(v) for v in row] for row in result.rows()]


def _names(item: Filter) -> set[str]:
    if isinstance(item, Group):
        return set().union(*(_names(child) for child in item.items))
    return {item.member}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def sort_key(row: list[Any]) -> tuple[Any, ...]:
    return tuple(
        (value is None, str(type(value)), value if value is not None else 0) for value in row
    )
