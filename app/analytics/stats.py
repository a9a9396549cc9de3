"""Measuring a loaded dataset: its column types, row count, cardinalities and time range."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from app.analytics.filters import Params
from app.analytics.members import Member, Stats, build_members
from app.etl.names import quote_ident
from app.etl.warehouse.sql import select_from

if TYPE_CHECKING:
    import duckdb

    from app.analytics.compiler import Relation
    from app.analytics.datasets import DatasetSpec


def column_types(cursor: duckdb.DuckDBPyConnection, relation: Relation) -> dict[str, str]:
    params = Params()
    source = relation.sql(params)
    rows = cursor.execute(f"DESCRIBE {select_from(source)}", params.values).fetchall()
    return {str(row[0]): str(row[1]) for row in rows}


def _utc_naive(member: Member, expression: str) -> str:
    if member.zoned:
        return f"timezone('UTC', {expression})"
    if member.sql_type == "DATE":
        return f"CAST({expression} AS TIMESTAMP)"
    return expression


def measure(
    cursor: duckdb.DuckDBPyConnection, relation: Relation, spec: DatasetSpec
) -> tuple[list[Member], Stats]:
    """Typed members (checked against the data) and the statistics, in two statements."""
    members = build_members(spec, column_types(cursor, relation))
    dimensions = [m for m in members if m.kind == "dimension"]
    time = next((m for m in members if m.kind == "time"), None)
    columns = ["count(*)"]
    columns += [f"count(DISTINCT {quote_ident(m.name)})" for m in dimensions]
    if time is not None:
        column = quote_ident(time.name)
        columns += [_utc_naive(time, f"min({column})"), _utc_naive(time, f"max({column})")]
    params = Params()
    source = relation.sql(params)
    row: tuple[Any, ...] = cursor.execute(
        select_from(source, ", ".join(columns)), params.values
    ).fetchone() or (0,)
    cardinalities = {m.name: int(count) for m, count in zip(dimensions, row[1:], strict=False)}
    stats = Stats(row_count=int(row[0]), cardinalities=cardinalities)
    if time is not None:
        low, high = row[-2], row[-1]
        stats = Stats(stats.row_count, cardinalities, _moment(low), _moment(high))
    return members, stats


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return None
