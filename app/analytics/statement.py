"""The statement's shape: SELECT list, grouping, HAVING, a stable ORDER BY, the page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.analytics.errors import QueryInvalid
from app.etl.names import quote_ident

if TYPE_CHECKING:
    from app.analytics.datasets import MemberType
    from app.analytics.query import Query


@dataclass(frozen=True, slots=True)
class Select:
    sql: str
    name: str
    type: MemberType
    key: bool  # a group key (time bucket or dimension), not a measure
    # Expressions to group by in its place (the select is built from them); none: itself.
    group_by: tuple[str, ...] = ()


def assemble(
    selects: list[Select],
    *,
    source: str,
    where: list[str],
    having: list[str],
    order: list[str],
    page: tuple[str, str],
) -> str:
    """Every piece is a quoted declared name, a fixed template or a `$n` slot."""
    columns = ", ".join(f"{s.sql} AS {quote_ident(s.name)}" for s in selects)
    parts = [f"SELECT {columns} FROM {source}"]  # noqa: S608
    if where:
        parts.append("WHERE " + " AND ".join(where))
    keys = [key for i, s in enumerate(selects) if s.key for key in s.group_by or (str(i + 1),)]
    if keys:
        parts.append("GROUP BY " + ", ".join(keys))
    if having:
        parts.append("HAVING " + " AND ".join(having))
    parts.append("ORDER BY " + ", ".join(order))
    parts.append(f"LIMIT {page[0]} OFFSET {page[1]}")
    return " ".join(parts)


def order_terms(query: Query, selects: list[Select]) -> list[str]:
    """The order asked, then every group key, so pages are stable; NULLs always last."""
    positions = {s.name: i + 1 for i, s in enumerate(selects)}
    time = query.time_dimension
    if time is not None and time.granularity is not None:
        positions.setdefault(time.member, 1)
    terms: list[tuple[int, bool]] = []
    for index, order in enumerate(query.order):
        position = positions.get(order.member)
        if position is None:
            raise QueryInvalid(
                f"cannot order by {order.member!r}: order by a member the query selects",
                path=["order", str(index), "member"],
            )
        terms.append((position, order.descending))
    if not terms:
        terms.append(_default_order(selects))
    seen = {position for position, _ in terms}
    terms += [(i + 1, False) for i, s in enumerate(selects) if s.key and i + 1 not in seen]
    return [f"{p} {'DESC' if desc else 'ASC'} NULLS LAST" for p, desc in dict(terms).items()]


def _default_order(selects: list[Select]) -> tuple[int, bool]:
    """Time ascending; else the first measure, largest first; else the first column."""
    if selects[0].key and selects[0].type == "time" and "." in selects[0].name:
        return 1, False
    first_measure = next((i for i, s in enumerate(selects) if not s.key), None)
    return (first_measure + 1, True) if first_measure is not None else (1, False)
