"""Helpers the mutation modules share: JSON objects in, typed errors out."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from strawberry.scalars import JSON

from app.errors import DataFlowError, InvalidInput
from graph.types import UserError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


P = ParamSpec("P")
PayloadT = TypeVar("PayloadT")


def errors_as(
    payload: Callable[..., PayloadT],
) -> Callable[[Callable[P, Awaitable[PayloadT]]], Callable[P, Awaitable[PayloadT]]]:
    """A mutation resolver whose expected failures (any `DataFlowError`) are answered as
    `payload(errors=[…])` with the error's code, message and path, as the GraphQL
    conventions ask (DESIGN.md §8); anything else stays a GraphQL error (masked).

    Put it under `@strawberry.mutation`: `functools.wraps` keeps the resolver's signature
    and annotations, which Strawberry reads for the arguments and the payload type."""

    def decorate(resolver: Callable[P, Awaitable[PayloadT]]) -> Callable[P, Awaitable[PayloadT]]:
        @functools.wraps(resolver)
        async def answer(*args: P.args, **kwargs: P.kwargs) -> PayloadT:
            try:
                return await resolver(*args, **kwargs)
            except DataFlowError as error:
                return payload(errors=[UserError.from_error(error)])

        return answer

    return decorate


def json_object(value: JSON | None, name: str) -> dict[str, Any] | None:
    """A JSON argument that must be an object (or absent)."""
    if value is None or isinstance(value, dict):
        return value
    raise InvalidInput(f"{name} must be a JSON object", path=[name])
