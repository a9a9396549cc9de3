"""Analytics as clients see it: datasets and their members, the query input, the result."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal

import strawberry
from strawberry.scalars import JSON

from app.analytics import query as q
from app.analytics.errors import QueryInvalid
from app.analytics.members import DatasetInfo, Member
from app.analytics.service import AnalyticsResult as ServiceResult
from graph.scalars import Long
from graph.types.common import Column

Granularity = strawberry.enum(q.Granularity, name="Granularity")
FilterOperator = strawberry.enum(
    q.Operator,
    name="FilterOperator",
    description="equals/notEquals/in/notIn take values; gt..lte one number or time; "
    "contains/startsWith/endsWith match text case-insensitively (values are literal "
    "text, not patterns); set/notSet take none.",
)


@strawberry.enum
class MemberKind(Enum):
    TIME = "time"
    DIMENSION = "dimension"
    MEASURE = "measure"


@strawberry.enum
class SortDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.type
class DatasetMember:
    name: str
    kind: MemberKind
    type: str = strawberry.field(description="time, string, number or boolean.")
    aggregation: str | None = strawberry.field(description="A measure's aggregate, e.g. sum.")

    @classmethod
    def from_member(cls, member: Member) -> DatasetMember:
        return cls(
            name=member.name,
            kind=MemberKind(member.kind),
            type=member.type,
            aggregation=member.aggregate,
        )


@strawberry.type(description="A loaded table with its declared members; each load bumps it.")
class Dataset:
    name: str
    version: int
    members: list[DatasetMember]
    row_count: Long
    loaded_at: datetime

    @classmethod
    def from_info(cls, info: DatasetInfo) -> Dataset:
        return cls(
            name=info.name,
            version=info.version,
            members=[DatasetMember.from_member(m) for m in info.members.values()],
            row_count=Long(info.stats.row_count),
            loaded_at=info.loaded_at,
        )


@strawberry.type
class AnalyticsResult:
    columns: list[Column]
    rows: JSON = strawberry.field(description="A list of rows, each a list of values.")
    row_count: int
    dataset_version: int
    from_cache: bool
    duration_ms: float

    @classmethod
    def from_result(cls, result: ServiceResult) -> AnalyticsResult:
        return cls(
            columns=[Column(name=c.name, type=c.type) for c in result.columns],
            rows=JSON(result.rows),
            row_count=result.row_count,
            dataset_version=result.dataset_version,
            from_cache=result.from_cache,
            duration_ms=result.duration_ms,
        )


@strawberry.input(description="Group by the time member, and/or bound it: [from, to).")
class TimeDimensionInput:
    member: str
    granularity: Granularity | None = None  # type: ignore[valid-type]
    from_: datetime | None = strawberry.field(
        name="from", default=None, description="Inclusive; without an offset, in `timezone`."
    )
    to: datetime | None = strawberry.field(default=None, description="Exclusive.")


@strawberry.input(description="Either member + operator (+ values), or `and`, or `or`.")
class AnalyticsFilterInput:
    member: str | None = None
    operator: FilterOperator | None = None  # type: ignore[valid-type]
    values: list[JSON] | None = None
    and_: list[AnalyticsFilterInput] | None = strawberry.field(name="and", default=None)
    or_: list[AnalyticsFilterInput] | None = strawberry.field(name="or", default=None)

    def to_filter(self, path: list[str]) -> q.Filter:
        given = [
            self.member is not None or self.operator is not None,
            bool(self.and_),
            bool(self.or_),
        ]
        if sum(given) != 1:
            raise QueryInvalid("a filter is member + operator, or `and`, or `or`", path=path)
        if self.and_ or self.or_:
            kind: Literal["and", "or"] = "and" if self.and_ else "or"
            items = self.and_ or self.or_ or []
            children = tuple(item.to_filter([*path, kind, str(i)]) for i, item in enumerate(items))
            return q.Group(kind, children)
        if self.member is None or self.operator is None:
            raise QueryInvalid("a filter needs both member and operator", path=path)
        values: tuple[Any, ...] = tuple(self.values or ())
        return q.Condition(self.member, q.Operator(self.operator), values)


@strawberry.input
class AnalyticsOrderInput:
    member: str
    direction: SortDirection = SortDirection.ASC


@strawberry.input(description="Cube's query shape; limit defaults to 10,000, at most 50,000.")
class AnalyticsQueryInput:
    dataset: str
    measures: list[str] = strawberry.field(default_factory=list)
    dimensions: list[str] = strawberry.field(default_factory=list)
    time_dimension: TimeDimensionInput | None = None
    filters: list[AnalyticsFilterInput] = strawberry.field(
        default_factory=list, description="All must hold (an implicit `and`)."
    )
    order: list[AnalyticsOrderInput] = strawberry.field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    timezone: str = strawberry.field(default="UTC", description="An IANA zone name.")

    def to_query(self) -> q.Query:
        time = self.time_dimension
        return q.Query(
            dataset=self.dataset,
            measures=tuple(self.measures),
            dimensions=tuple(self.dimensions),
            time_dimension=q.TimeDimension(
                member=time.member,
                granularity=q.Granularity(time.granularity) if time.granularity else None,
                start=time.from_,
                end=time.to,
            )
            if time
            else None,
            filters=tuple(f.to_filter(["filters", str(i)]) for i, f in enumerate(self.filters)),
            order=tuple(q.OrderBy(o.member, o.direction is SortDirection.DESC) for o in self.order),
            limit=self.limit,
            offset=self.offset,
            timezone=self.timezone,
        )
