"""Scalars beyond GraphQL's own."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

# GraphQL's Int is 32-bit (it stops at 2,147,483,647): a run that reads three billion rows
# would fail to serialise. Row counts are Longs.
Long = NewType("Long", int)
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def _long(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not LONG_MIN <= value <= LONG_MAX:
        raise ValueError(f"Long cannot represent {value!r}: it takes a 64-bit integer")
    return value


LONG = strawberry.scalar(
    name="Long",
    description="A 64-bit integer, sent as a JSON number (JavaScript reads it exactly up "
    "to 2^53). Row counts use it: GraphQL's Int stops at 2^31 - 1.",
    serialize=_long,
    parse_value=_long,
)

SCALARS: dict[object, ScalarDefinition] = {Long: LONG}
