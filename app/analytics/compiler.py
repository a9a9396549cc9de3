"""An analytics query to ONE DuckDB statement (also valid PostgreSQL), values bound.

Client text never becomes SQL: member names are looked up among the dataset's declared
members (whose columns come from the pipeline spec and are quoted), operators and
granularities pick fixed templates, and every value is a `$n` parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.analytics.cost import estimate_groups, pinned_values
from app.analytics.errors import OutOfScope, QueryInvalid
from app.analytics.filters import Params, compile_filter
from app.analytics.query import Condition, Group, Operator, check_query
from app.analytics.statement import Select, assemble, order_terms
from app.analytics.timeparts import (
    bucket_sql,
    column_value,
    local_sql,
    offset_sql,
    out_of_range,
    to_utc_naive,
)
from app.etl.names import quote_ident

if TYPE_CHECKING:
    from datetime import datetime

    from app.analytics.datasets import MemberType
    from app.analytics.members import DatasetInfo, Member
    from app.analytics.query import Filter, Query, TimeDimension
    from app.analytics.scope import Scope


@dataclass(frozen=True, slots=True)
class SqlTarget:
    """What the engine that runs the statement does best."""

    calendar_parts: bool
    """Time buckets grouped by calendar parts (faster in DuckDB), else by date_trunc
    (faster in PostgreSQL, whose extract is numeric and slow); see `bucket_sql`."""


DUCKDB_SQL = SqlTarget(calendar_parts=True)
POSTGRES_SQL = SqlTarget(calendar_parts=False)


@dataclass(frozen=True, slots=True)
class Relation:
    """What the statement reads: a table by its (quoted) name, or a Parquet file (bound)."""

    table: tuple[str, ...] = ()
    parquet: str | None = None

    def sql(self, params: Params) -> str:
        if self.parquet is not None:
            return f"read_parquet({params.add(self.parquet)})"
        return ".".join(quote_ident(part) for part in self.table)


@dataclass(frozen=True, slots=True)
class ResultColumn:
    name: str
    type: MemberType


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    sql: str
    params: tuple[Any, ...]
    columns: tuple[ResultColumn, ...]
    groups: int  # the cost guard's estimate
    factors: tuple[str, ...]  # how the estimate was reckoned, for the refusal message


class _Builder:
    def __init__(self, query: Query, dataset: DatasetInfo, target: SqlTarget) -> None:
        self.query = query
        self.dataset = dataset
        self.target = target
        self.params = Params()
        self._tz_slot: str | None = None

    def local(self, member: Member, expression: str) -> str:
        """The expression as wall time in the query's timezone; binds the zone if used."""
        zone = self.query.timezone
        if self._tz_slot is None and (
            member.zoned or (member.sql_type != "DATE" and zone != "UTC")
        ):
            self._tz_slot = self.params.add(zone)
        return local_sql(expression, member, zone, self._tz_slot or "")

    def member(self, name: str, path: list[str]) -> Member:
        member = self.dataset.members.get(name)
        if member is None:
            known = ", ".join(self.dataset.members)
            raise QueryInvalid(
                f"{name!r} is not a member of {self.dataset.name}; its members: {known}",
                path=path,
            )
        return member

    def column(self, member: Member) -> str:
        if member.column is None:
            raise QueryInvalid(f"{member.name!r} has no column to filter or group by")
        return quote_ident(member.column)

    def aggregate(self, member: Member) -> str:
        if member.column is None:
            return "count(*)"
        if member.aggregate == "count_distinct":
            return f"count(DISTINCT {self.column(member)})"
        return f"{member.aggregate}({self.column(member)})"

    def resolve_row_member(self, name: str, path: list[str]) -> tuple[Member, str]:
        """A member filtered before grouping: the time column or a dimension."""
        member = self.member(name, path)
        if member.kind == "measure":
            raise QueryInvalid(
                f"{name!r} is a measure; it cannot share a filter group with dimensions", path=path
            )
        return member, self.column(member)

    def resolve_measure(self, name: str, path: list[str]) -> tuple[Member, str]:
        member = self.member(name, path)
        if member.kind != "measure":
            raise QueryInvalid(
                f"{name!r} is not a measure; it cannot share a filter group with measures",
                path=path,
            )
        return member, self.aggregate(member)


def compile_query(
    query: Query,
    dataset: DatasetInfo,
    *,
    relation: Relation,
    scope: Scope = (),
    target: SqlTarget = DUCKDB_SQL,
) -> CompiledQuery:
    """`target` POSTGRES_SQL writes the same aggregate as PostgreSQL runs it best (the
    benchmark's comparison); the service only ever compiles for DuckDB."""
    check_query(query)
    build = _Builder(query, dataset, target)
    where: list[str] = []
    start, end = _time_range(build, where)
    selects = _selects(build, start, end)
    where += _scope_conditions(build, scope)
    having = _split_filters(build, where)
    sql = assemble(
        selects,
        source=relation.sql(build.params),
        where=where,
        having=having,
        order=order_terms(query, selects),
        page=(build.params.add(query.row_limit), build.params.add(query.offset)),
    )
    groups, factors = _estimate(build, scope, start, end)
    columns = tuple(ResultColumn(s.name, s.type) for s in selects)
    return CompiledQuery(sql, tuple(build.params.values), columns, groups, tuple(factors))


def _split_filters(build: _Builder, where: list[str]) -> list[str]:
    """The caller's filters: on rows appended to `where`; on measures returned (HAVING)."""
    having: list[str] = []
    timezone = build.query.timezone
    for index, item in enumerate(build.query.filters):
        path = ["filters", str(index)]
        if _is_measure_filter(build, item, path):
            having.append(compile_filter(item, build.resolve_measure, build.params, timezone, path))
        else:
            where.append(
                compile_filter(item, build.resolve_row_member, build.params, timezone, path)
            )
    return having


def _estimate(
    build: _Builder, scope: Scope, start: datetime | None, end: datetime | None
) -> tuple[int, list[str]]:
    """The cost guard's estimate of result groups, and how it was reckoned."""
    query = build.query
    pinned = pinned_values(query.filters)
    for name, values in scope:
        pinned[name] = min(len(values), pinned.get(name, len(values)))
    return estimate_groups(
        build.dataset.stats,
        dimensions=query.dimensions,
        pinned=pinned,
        granularity=query.time_dimension.granularity if query.time_dimension else None,
        start=start,
        end=end,
    )


def _selects(build: _Builder, start: datetime | None, end: datetime | None) -> list[Select]:
    """The time bucket, then dimensions, then measures, in the order asked."""
    query, selects = build.query, []
    time = query.time_dimension
    if time is not None and time.granularity is not None:
        member = _time_member(build, time)
        local = _bucket_local(build, member, start, end)
        sql, group_by = bucket_sql(
            time.granularity, local, calendar_parts=build.target.calendar_parts
        )
        name = f"{member.name}.{time.granularity.value}"
        selects.append(Select(sql, name, "time", True, group_by))
    for index, name in enumerate(query.dimensions):
        member = build.member(name, ["dimensions", str(index)])
        if member.kind != "dimension":
            raise QueryInvalid(
                f"{name!r} is a {member.kind}, not a dimension", path=["dimensions", str(index)]
            )
        sql = build.column(member)
        if member.type == "time":
            sql = build.local(member, sql)
        selects.append(Select(sql, name, member.type, True))
    for index, name in enumerate(query.measures):
        member = build.member(name, ["measures", str(index)])
        if member.kind != "measure":
            raise QueryInvalid(
                f"{name!r} is a {member.kind}, not a measure", path=["measures", str(index)]
            )
        sql = build.aggregate(member)
        if member.type == "time":
            sql = build.local(member, sql)
        selects.append(Select(sql, name, member.type, False))
    return selects


def _bucket_local(
    build: _Builder, member: Member, start: datetime | None, end: datetime | None
) -> str:
    """The time column as wall time, for every row: by the zone's offsets over the rows'
    span where they are known (plain arithmetic, several times faster than converting
    each row through the time zone database), else by conversion."""
    column, stats = build.column(member), build.dataset.stats
    if build.query.timezone != "UTC" and member.sql_type == "TIMESTAMP":
        low = max(start, stats.time_min) if start and stats.time_min else start or stats.time_min
        high = min(end, stats.time_max) if end and stats.time_max else end or stats.time_max
        if low and high:
            shifted = offset_sql(column, build.query.timezone, low, high, build.params.add)
            if shifted is not None:
                return shifted
    return build.local(member, column)


def _time_member(build: _Builder, time: TimeDimension) -> Member:
    member = build.member(time.member, ["timeDimension", "member"])
    if member.kind != "time":
        raise QueryInvalid(
            f"{time.member!r} is not the time of {build.dataset.name}",
            path=["timeDimension", "member"],
        )
    return member


def _time_range(build: _Builder, where: list[str]) -> tuple[datetime | None, datetime | None]:
    """Bound the raw time column (so Parquet row groups can be skipped); the range in
    naive UTC for the cost estimate."""
    time, zone = build.query.time_dimension, build.query.timezone
    if time is None or (time.start is None and time.end is None):
        return None, None
    member = _time_member(build, time)
    for name, moment in (("from", time.start), ("to", time.end)):
        problem = out_of_range(moment) if moment is not None else None
        if problem:
            raise QueryInvalid(f"timeDimension.{name}: {problem}", path=["timeDimension", name])
    start = to_utc_naive(time.start, zone) if time.start else None
    end = to_utc_naive(time.end, zone) if time.end else None
    if start and end and start > end:
        raise QueryInvalid("timeDimension: from is after to", path=["timeDimension", "from"])
    column = build.column(member)
    if time.start is not None:
        where.append(f"{column} >= {build.params.add(column_value(time.start, member, zone))}")
    if time.end is not None:
        where.append(f"{column} < {build.params.add(column_value(time.end, member, zone))}")
    return start, end


def _scope_conditions(build: _Builder, scope: Scope) -> list[str]:
    """The caller's scope, ANDed before anything the caller asked for."""
    conditions = []
    for name, values in scope:
        member = build.dataset.members.get(name)
        if member is None or member.kind != "dimension":
            raise OutOfScope(
                f"your analytics scope restricts `{name}`, which {build.dataset.name} "
                "does not have as a dimension, so you cannot query it"
            )
        condition = Condition(name, Operator.IN, values)
        conditions.append(
            compile_filter(
                condition, build.resolve_row_member, build.params, build.query.timezone, ["scope"]
            )
        )
    return conditions


def _names(item: Filter) -> set[str]:
    if isinstance(item, Group):
        return set().union(*(_names(child) for child in item.items))
    return {item.member}


def _is_measure_filter(build: _Builder, item: Filter, path: list[str]) -> bool:
    """Whether a top-level filter goes to HAVING (all measures) or WHERE (none)."""
    kinds = set()
    for name in sorted(_names(item)):
        kinds.add(build.member(name, path).kind == "measure")
    if len(kinds) > 1:
        raise QueryInvalid(
            "a filter group mixes measures and dimensions; put them in separate filters",
            path=path,
        )
    return kinds == {True}
