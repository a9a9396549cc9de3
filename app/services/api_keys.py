"""API keys: create (the secret shown once), authenticate, revoke.

A key is `dfk_<prefix>_<secret>`. The prefix finds the row; the SHA-256 digest of the
whole key is compared in constant time. SHA-256 (not argon2) is right here: the secret
is 32 random bytes, so there is nothing to brute-force, and every request checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from app.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from app.models.api_key import ApiKey
from app.models.base import utcnow
from app.models.user import Role, User

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

KEY_PREFIX = "dfk_"
MAX_KEYS_PER_USER = 50


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # the whole key; never stored, never shown again


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


async def create(
    *, session: AsyncSession, owner: User, name: str, role: Role | None = None
) -> IssuedKey:
    """A key acting as `owner` with at most the owner's role."""
    role = role or owner.role
    if not owner.role.allows(role):
        raise Forbidden(
            f"a key cannot hold more than its owner's role ({owner.role.value})", path=["role"]
        )
    if not 1 <= len(name) <= 128:
        raise InvalidInput("name must be 1 to 128 characters", path=["name"])
    count = await session.exec(select(ApiKey.id).where(ApiKey.user_id == owner.id))
    if len(count.all()) >= MAX_KEYS_PER_USER:
        raise InvalidInput(f"at most {MAX_KEYS_PER_USER} keys per user; revoke some first")
    prefix = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(user_id=owner.id, name=name, prefix=prefix, digest=_digest(secret), role=role)
    session.add(key)
    await session.flush()
    return IssuedKey(key=key, secret=secret)


@dataclass(frozen=True)
class KeyGrant:
    """What a valid key grants: its owner, its role, and its own analytics scope."""

    owner: User
    role: Role
    analytics_scope: dict[str, Any] | None


async def authenticate(*, session: AsyncSession, secret: str) -> KeyGrant:
    """The key's owner and what the key grants; anything off is `Unauthenticated`."""
    prefix = secret.removeprefix(KEY_PREFIX).split("_", 1)[0]
    key = (await session.exec(select(ApiKey).where(ApiKey.prefix == prefix))).first()
    if key is None or not hmac.compare_digest(key.digest, _digest(secret)):
        raise Unauthenticated("the API key is invalid")
    if key.revoked_at is not None:
        raise Unauthenticated("the API key has been revoked")
    owner = await session.get(User, key.user_id)
    if owner is None or not owner.is_active:
        raise Unauthenticated("the account behind this API key is disabled")
    key.last_used_at = utcnow()
    session.add(key)
    # A key never grants more than its owner holds now (the owner may have been demoted).
    role = key.role if owner.role.allows(key.role) else owner.role
    return KeyGrant(owner=owner, role=role, analytics_scope=key.analytics_scope)


async def get(*, session: AsyncSession, key_id: str) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} does not exist", path=["id"])
    return key


async def revoke(*, session: AsyncSession, key_id: str) -> ApiKey:
    """Revoke a key (idempotent); requests with it are refused from now on."""
    key = await get(session=session, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        await session.flush()
    return key


async def list_for(*, session: AsyncSession, user: User) -> list[ApiKey]:
    statement = (
        select(ApiKey).where(ApiKey.user_id == user.id).order_by(col(ApiKey.created_at).desc())
    )
    return list((await session.exec(statement)).all())
