"""Scopes: the rows a user or API key may see, e.g. {"country": "DE"}, forced into every query.

A scope maps dimension names to one value or a list of values. A user's scope and their
key's scope both apply; a dataset without a scoped dimension cannot be read at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from app.analytics.errors import OutOfScope
from app.analytics.query import Scalar
from app.errors import InvalidInput

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.models.api_key import ApiKey
    from app.models.user import User
    from app.services.auth import Caller

# Sorted (dimension, sorted values) pairs: hashable, and equal for equal rules.
Scope = tuple[tuple[str, tuple[Scalar, ...]], ...]
MAX_SCOPE_VALUES = 1_000


def parse_scope(raw: object, *, path: Sequence[str] = ("analyticsScope",)) -> Scope:
    """Validate a stored or submitted scope; InvalidInput names the bad entry, under
    `path` (the argument it was sent in)."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise InvalidInput("an analytics scope must be an object", path=list(path))
    rules = []
    for name, value in raw.items():
        entry = [*path, str(name)]
        values = value if isinstance(value, list) else [value]
        if not isinstance(name, str) or not name:
            raise InvalidInput("a scope key must be a dimension name", path=entry)
        if not values or len(values) > MAX_SCOPE_VALUES:
            raise InvalidInput(f"give 1 to {MAX_SCOPE_VALUES} values", path=entry)
        if not all(isinstance(item, str | int | float) for item in values):
            raise InvalidInput("scope values must be strings, numbers or booleans", path=entry)
        rules.append((name, tuple(sorted(set(values), key=repr))))
    return tuple(sorted(rules))


def combine(*scopes: Scope) -> Scope:
    """Every scope applies: a dimension restricted twice keeps the values both allow."""
    merged: dict[str, set[Scalar]] = {}
    for scope in scopes:
        for name, values in scope:
            merged[name] = merged[name] & set(values) if name in merged else set(values)
    for name, allowed in merged.items():
        if not allowed:
            raise OutOfScope(f"your analytics scope allows no value of `{name}`")
    return tuple(sorted((name, tuple(sorted(v, key=repr))) for name, v in merged.items()))


def scope_of(caller: Caller) -> Scope:
    """The scope of an authenticated caller: their own, narrowed by their key's. Both
    come with the caller (and its cache), so this costs no lookup."""
    return combine(parse_scope(caller.user.analytics_scope), parse_scope(caller.key_scope))


async def set_user_scope(
    *,
    session: AsyncSession,
    user: User,
    scope: object,
    path: Sequence[str] = ("analyticsScope",),
) -> User:
    """Set (or with None or {} clear) a user's scope, as a client sent it."""
    user.analytics_scope = _stored(scope, path)
    session.add(user)
    await session.flush()
    return user


async def set_api_key_scope(
    *,
    session: AsyncSession,
    key: ApiKey,
    scope: object,
    path: Sequence[str] = ("analyticsScope",),
) -> ApiKey:
    """Set (or with None or {} clear) an API key's scope, as a client sent it."""
    key.analytics_scope = _stored(scope, path)
    session.add(key)
    await session.flush()
    return key


def _stored(scope: object, path: Sequence[str]) -> dict[str, Any] | None:
    parse_scope(scope, path=path)
    return dict(cast("Mapping[str, Any]", scope)) if scope else None
