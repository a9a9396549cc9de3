"""Who is calling: a bearer credential (access token or API key) to a caller and role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.errors import Unauthenticated
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


def bearer_token(header: object) -> str | None:
    """The token of an `Authorization: Bearer …` value, or None if there is none."""
    if not isinstance(header, str) or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


async def authenticate(*, session: AsyncSession, settings: Settings, token: str) -> Caller:
    if api_key_service.is_api_key(token):
        user, role = await api_key_service.authenticate(session=session, secret=token)
        return Caller(user=user, role=role, via_api_key=True)
    claims = decode_access_token(token, settings=settings)
    holder = await session.get(User, claims.user_id)
    if holder is None or not holder.is_active:
        raise Unauthenticated("the account behind this token is gone or disabled")
    if holder.tokens_valid_after is not None and claims.issued_at < holder.tokens_valid_after:
        raise Unauthenticated("this access token has been revoked; log in again")
    return Caller(user=holder, role=holder.role)
