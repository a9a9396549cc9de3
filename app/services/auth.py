"""Who is calling: a bearer credential (access token or API key) to a caller and role."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect

from app.db import forget_on_commit
from app.errors import Unauthenticated
from app.models.api_key import ApiKey
from app.models.user import Role, User
from app.security import decode_access_token
from app.services import api_keys as api_key_service

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.config import Settings


@dataclass(frozen=True)
class Caller:
    user: User
    role: Role  # what this credential grants: a key may grant less than its owner holds
    via_api_key: bool = False
    # An API key's own analytics scope, which narrows its owner's (see app.analytics.scope).
    key_scope: dict[str, Any] | None = None


def bearer_token(header: object) -> str | None:
    """The token of an `Authorization: Bearer …` value, or None if there is none."""
    if not isinstance(header, str) or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


# Callers by credential, each trusted for CALLER_FRESH_SECONDS: a dashboard sends the same
# token with every request, and looking up its holder was the largest part of a small
# query. A role change, disabled account or revoked key committed in this process empties
# the cache at once; one committed by another API replica (or straight in the database)
# takes effect there within CALLER_FRESH_SECONDS.
CALLER_FRESH_SECONDS = 2.0
_MAX_CALLERS = 4096
_callers: dict[tuple[str, str], tuple[Caller, float]] = {}
_generation = 0


def forget_callers() -> None:
    global _generation
    _callers.clear()
    _generation += 1


def _changes_access(item: object) -> bool:
    if isinstance(item, User):
        return True
    if isinstance(item, ApiKey):
        state = inspect(item)
        watched = ("revoked_at", "role", "analytics_scope")
        return any(state.attrs[name].history.has_changes() for name in watched)
    return False


forget_on_commit(_changes_access, forget_callers)


def remembered_caller(
    *, settings: Settings, token: str, max_age: float = CALLER_FRESH_SECONDS
) -> Caller | None:
    """The caller behind `token` if it was verified in the last `max_age` seconds (so a
    request needs no session at all); None if it must be looked up."""
    known = _callers.get((settings.signing_key(), token))
    if known is None or time.monotonic() - known[1] >= min(max_age, CALLER_FRESH_SECONDS):
        return None
    if not known[0].via_api_key:
        decode_access_token(token, settings=settings)  # expiry, on every use
    return known[0]


async def authenticate(
    *,
    session: AsyncSession,
    settings: Settings,
    token: str,
    max_age: float = CALLER_FRESH_SECONDS,
) -> Caller:
    known = remembered_caller(settings=settings, token=token, max_age=max_age)
    if known is not None:
        return known
    key = (settings.signing_key(), token)
    generation, looked_up_at = _generation, time.monotonic()
    caller = await _look_up(session=session, settings=settings, token=token)
    if generation == _generation:  # no access changed while we looked
        if len(_callers) >= _MAX_CALLERS:
            _callers.clear()
        _callers[key] = (caller, looked_up_at)
    return caller


async def _look_up(*, session: AsyncSession, settings: Settings, token: str) -> Caller:
    if api_key_service.is_api_key(token):
        grant = await api_key_service.authenticate(session=session, secret=token)
        return Caller(
            user=grant.owner, role=grant.role, via_api_key=True, key_scope=grant.analytics_scope
        )
    claims = decode_access_token(token, settings=settings)
    holder = await session.get(User, claims.user_id)
    if holder is None or not holder.is_active:
        raise Unauthenticated("the account behind this token is gone or disabled")
    if holder.tokens_valid_after is not None and claims.issued_at < holder.tokens_valid_after:
        raise Unauthenticated("this access token has been revoked; log in again")
    return Caller(user=holder, role=holder.role)
