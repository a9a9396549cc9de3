"""Filter conditions to SQL: the operator picks a fixed template, every value is bound.

The only text that reaches the statement is the member's expression (built from the
dataset's declared columns, quoted) and `$n` placeholders; values travel as parameters,
LIKE patterns with their wildcards escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.analytics.errors import QueryInvalid
from app.analytics.query import Condition, Group, Operator
from app.analytics.timeparts import column_value, out_of_range, parse_moment

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from app.analytics.members import Member
    from app.analytics.query import Filter, Scalar

    # A member name (and where it is in the query) to the member and its SQL expression.
    Resolver = Callable[[str, list[str]], tuple[Member, str]]

LIKE_ESCAPE = "\\"
_COMPARISONS = {Operator.GT: ">", Operator.GTE: ">=", Operator.LT: "<", Operator.LTE: "<="}
_PATTERNS = {
    Operator.CONTAINS: ("%", "%"),
    Operator.STARTS_WITH: ("", "%"),
    Operator.ENDS_WITH: ("%", ""),
}
_NO_VALUES = {Operator.SET, Operator.NOT_SET}
_ONE_VALUE = set(_COMPARISONS)


class Params:
    """The statement's parameters, numbered `$1`, `$2`, ... in the order they are added."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def escape_like(value: str) -> str:
    """The value as a literal LIKE pattern: `%`, `_` and the escape itself lose meaning."""
    return (
        value.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def compile_filter(
    item: Filter,
    resolve: Resolver,
    params: Params,
    timezone: str,
    path: list[str],
) -> str:
    if isinstance(item, Group):
        joiner = " AND " if item.kind == "and" else " OR "
        parts = [
            compile_filter(child, resolve, params, timezone, [*path, item.kind, str(index)])
            for index, child in enumerate(item.items)
        ]
        return "(" + joiner.join(parts) + ")"
    member, expression = resolve(item.member, [*path, "member"])
    values = coerce_values(member, item, timezone, [*path, "values"])
    return condition_sql(item.operator, expression, [params.add(v) for v in values])


def condition_sql(operator: Operator, expression: str, slots: Sequence[str]) -> str:
    if operator is Operator.SET:
        return f"{expression} IS NOT NULL"
    if operator is Operator.NOT_SET:
        return f"{expression} IS NULL"
    if operator in _COMPARISONS:
        return f"{expression} {_COMPARISONS[operator]} {slots[0]}"
    if operator in _PATTERNS:
        likes = [f"{expression} ILIKE {slot} ESCAPE '{LIKE_ESCAPE}'" for slot in slots]
        return "(" + " OR ".join(likes) + ")"
    listed = slots[0] if len(slots) == 1 else "(" + ", ".join(slots) + ")"
    if operator in {Operator.EQUALS, Operator.IN}:
        return f"{expression} {'=' if len(slots) == 1 else 'IN'} {listed}"
    # notEquals keeps rows where the member is empty, as Cube does: NULL is not "x".
    negated = "<>" if len(slots) == 1 else "NOT IN"
    return f"({expression} {negated} {listed} OR {expression} IS NULL)"


def coerce_values(
    member: Member, condition: Condition, timezone: str, path: list[str]
) -> list[Any]:
    """The condition's values as the member's column compares with them, checked."""
    operator, values = condition.operator, condition.values
    where = f"filter {operator.value} on `{member.name}`"
    if operator in _NO_VALUES:
        if values:
            raise QueryInvalid(f"{where} takes no values", path=path)
        return []
    if not values or (operator in _ONE_VALUE and len(values) != 1):
        count = "exactly one value" if operator in _ONE_VALUE else "at least one value"
        raise QueryInvalid(f"{where} needs {count}", path=path)
    if operator in _ONE_VALUE and member.type not in {"number", "time"}:
        raise QueryInvalid(f"{where}: only numbers and times are ordered", path=path)
    if operator in _PATTERNS:
        if member.type != "string":
            raise QueryInvalid(f"{where}: only text members match patterns", path=path)
        before, after = _PATTERNS[operator]
        return [before + escape_like(_text(v, where, path)) + after for v in values]
    return [_coerce(member, value, timezone, where, path) for value in values]


def _text(value: Scalar, where: str, path: list[str]) -> str:
    if not isinstance(value, str):
        raise QueryInvalid(f"{where}: {value!r} is not text", path=path)
    return value


def _coerce(member: Member, value: Scalar, timezone: str, where: str, path: list[str]) -> Any:
    kind = member.type
    if kind == "string":
        return _text(value, where, path)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise QueryInvalid(f"{where}: {value!r} is not true or false", path=path)
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise QueryInvalid(f"{where}: {value!r} is not a number", path=path)
        return value
    moment = parse_moment(value)
    if moment is None:
        raise QueryInvalid(f"{where}: {value!r} is not an ISO date or date-time", path=path)
    problem = out_of_range(moment)
    if problem:
        raise QueryInvalid(f"{where}: {problem}", path=path)
    return column_value(moment, member, timezone)
