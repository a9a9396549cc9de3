"""The analytics query (Cube's shape), and the checks that need no dataset."""

from __future__ import annotations

import math
import zoneinfo
from dataclasses import dataclass
from datetime import datetime  # noqa: TC003 (a dataclass field type)
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from app.analytics.errors import QueryInvalid

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 50_000
MAX_OFFSET = 1_000_000
MAX_FILTER_DEPTH = 5
MAX_CONDITIONS = 100
MAX_VALUES = 1_000
MAX_VALUE_LENGTH = 1_000
INT64 = (-(2**63), 2**63 - 1)

Scalar = str | int | float | bool


class Granularity(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class Operator(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "notEquals"
    IN = "in"
    NOT_IN = "notIn"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    CONTAINS = "contains"
    STARTS_WITH = "startsWith"
    ENDS_WITH = "endsWith"
    SET = "set"
    NOT_SET = "notSet"


@dataclass(frozen=True, slots=True)
class Condition:
    member: str
    operator: Operator
    values: tuple[Scalar, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    kind: Literal["and", "or"]
    items: tuple[Filter, ...]


Filter = Condition | Group


@dataclass(frozen=True, slots=True)
class TimeDimension:
    member: str
    granularity: Granularity | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class OrderBy:
    member: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    dataset: str
    measures: tuple[str, ...] = ()
    dimensions: tuple[str, ...] = ()
    time_dimension: TimeDimension | None = None
    filters: tuple[Filter, ...] = ()
    order: tuple[OrderBy, ...] = ()
    limit: int | None = None
    offset: int = 0
    timezone: str = "UTC"

    @property
    def row_limit(self) -> int:
        return DEFAULT_LIMIT if self.limit is None else self.limit


def fingerprint(value: Query | tuple[object, ...]) -> str:
    """A query (or a scope) as a cache key, before compiling: its repr names every field
    and tells apart values that Python holds equal and hashes alike (1, 1.0 and True;
    the same instant at two UTC offsets), which the dataclasses' own hash would not."""
    return repr(value)


@lru_cache(maxsize=1)
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


def check_query(query: Query) -> None:
    """Shape checks: limits, timezone, sizes. Member names are checked by the compiler."""
    if query.limit is not None and not 1 <= query.limit <= MAX_LIMIT:
        raise QueryInvalid(f"limit must be between 1 and {MAX_LIMIT:,}", path=["limit"])
    if not 0 <= query.offset <= MAX_OFFSET:
        raise QueryInvalid(f"offset must be between 0 and {MAX_OFFSET:,}", path=["offset"])
    if query.timezone not in known_timezones():
        raise QueryInvalid(
            f"unknown timezone {query.timezone!r}; use an IANA name such as Europe/Berlin",
            path=["timezone"],
        )
    grouped = query.time_dimension is not None and query.time_dimension.granularity is not None
    if not (query.measures or query.dimensions or grouped):
        raise QueryInvalid("ask for at least one measure, dimension or time granularity")
    for field in ("measures", "dimensions"):
        names: tuple[str, ...] = getattr(query, field)
        if len(set(names)) != len(names):
            raise QueryInvalid(f"{field} lists a member twice", path=[field])
    count = sum(1 for _ in _conditions(query.filters, ["filters"], depth=1))
    if count > MAX_CONDITIONS:
        raise QueryInvalid(f"at most {MAX_CONDITIONS} filter conditions", path=["filters"])


def _conditions(filters: tuple[Filter, ...], path: list[str], depth: int) -> Iterator[Condition]:
    if depth > MAX_FILTER_DEPTH:
        raise QueryInvalid(f"filters nest at most {MAX_FILTER_DEPTH} deep", path=path)
    for index, item in enumerate(filters):
        where = [*path, str(index)]
        if isinstance(item, Group):
            if not item.items:
                raise QueryInvalid(f"an empty `{item.kind}` group", path=where)
            yield from _conditions(item.items, [*where, item.kind], depth + 1)
        else:
            _check_values(item, where)
            yield item


def _check_values(condition: Condition, path: list[str]) -> None:
    if len(condition.values) > MAX_VALUES:
        raise QueryInvalid(f"at most {MAX_VALUES} values per filter", path=[*path, "values"])
    for value in condition.values:
        problem = _value_problem(value)
        if problem:
            raise QueryInvalid(f"filter on `{condition.member}`: {problem}", path=[*path, "values"])


def _value_problem(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if INT64[0] <= value <= INT64[1] else f"{value} is out of range"
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite"
    if isinstance(value, str):
        return None if len(value) <= MAX_VALUE_LENGTH else "a value is too long"
    return "values must be strings, numbers or booleans"
