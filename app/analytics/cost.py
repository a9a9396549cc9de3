"""The cost guard: refuse a query whose result would have too many groups to build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.analytics.errors import QueryTooExpensive
from app.analytics.query import Condition, Group, Operator
from app.analytics.timeparts import bucket_count

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from app.analytics.members import Stats
    from app.analytics.query import Filter, Granularity


def pinned_values(filters: Sequence[Filter]) -> dict[str, int]:
    """Members an AND of the filters pins to a few values (equals/in), and how many."""
    pinned: dict[str, int] = {}
    for item in filters:
        if isinstance(item, Group):
            if item.kind == "and":
                for member, count in pinned_values(item.items).items():
                    pinned[member] = min(count, pinned.get(member, count))
            continue
        if isinstance(item, Condition) and item.operator in {Operator.EQUALS, Operator.IN}:
            count = len(item.values)
            pinned[item.member] = min(count, pinned.get(item.member, count))
    return pinned


def estimate_groups(
    stats: Stats,
    *,
    dimensions: Sequence[str],
    pinned: Mapping[str, int],
    granularity: Granularity | None,
    start: datetime | None,
    end: datetime | None,
) -> tuple[int, list[str]]:
    """Groups the query can produce, at most the table's rows; and how it was reckoned."""
    factors: list[tuple[str, int]] = []
    if granularity is not None:
        low = max(start, stats.time_min) if start and stats.time_min else start or stats.time_min
        high = min(end, stats.time_max) if end and stats.time_max else end or stats.time_max
        buckets = bucket_count(low, high, granularity) if low and high else 1
        factors.append((f"{buckets:,} {granularity.value}s", buckets))
    for name in dimensions:
        # +1: an empty (NULL) value is a group of its own.
        count = stats.cardinalities.get(name, stats.row_count) + 1
        if name in pinned:
            count = min(count, pinned[name])
        factors.append((f"{name} ~{count:,}", count))
    product = 1
    for _, count in factors:
        product *= max(count, 1)
    return min(product, max(stats.row_count, 1)), [text for text, _ in factors]


def guard_groups(groups: int, factors: list[str], limit: int) -> None:
    if groups <= limit:
        return
    raise QueryTooExpensive(
        f"this query would build about {groups:,} groups ({' x '.join(factors)}); "
        f"the limit is {limit:,}: narrow the time range, use a coarser granularity, "
        "filter a dimension or drop one",
        details={"groups": groups, "limit": limit},
    )
