"""Passwords (argon2) and access tokens (JWT, HS256, signed with SECRET_KEY)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.errors import Unauthenticated
from app.models.user import Role

if TYPE_CHECKING:
    from app.config import Settings

_hasher = PasswordHasher()
_ALGORITHM = "HS256"
_ISSUER = "dataflow"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    role: Role
    issued_at: datetime
    expires_at: datetime


def create_access_token(
    *, user_id: str, role: Role, settings: Settings, now: datetime | None = None
) -> str:
    issued = now or datetime.now(UTC)
    expires = issued + timedelta(minutes=settings.access_token_minutes)
    # `iat` is whole seconds; `ts` keeps the instant exactly, so a revocation at 12:00:00.5
    # refuses a token from 12:00:00.4 but not one issued at 12:00:00.6.
    claims = {
        "sub": user_id,
        "role": role.value,
        "iat": issued,
        "ts": issued.timestamp(),
        "exp": expires,
        "iss": _ISSUER,
    }
    return jwt.encode(claims, settings.signing_key(), algorithm=_ALGORITHM)


# Tokens whose signature was verified, by (signing key, token): a dashboard sends the
# same token with every request, and verifying it was ~4% of a runs page. Expiry is still
# checked on every use.
_VERIFIED_MAX = 1024
_verified: dict[tuple[str, str], TokenClaims] = {}


def decode_access_token(token: str, *, settings: Settings) -> TokenClaims:
    """Verify signature, expiry and issuer; any failure is `Unauthenticated`."""
    key = (settings.signing_key(), token)
    known = _verified.get(key)
    if known is not None:
        if datetime.now(UTC) >= known.expires_at:
            raise Unauthenticated("the access token has expired; log in again")
        return known
    claims = _verify(token, settings=settings)
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[key] = claims
    return claims


def _verify(token: str, *, settings: Settings) -> TokenClaims:
    try:
        claims = jwt.decode(
            token,
            settings.signing_key(),
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            options={"require": ["sub", "exp", "iat", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the access token has expired; log in again") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the access token is invalid") from None
    try:
        role = Role(str(claims.get("role")))
    except ValueError:
        raise Unauthenticated("the access token carries an unknown role") from None
    return TokenClaims(
        user_id=str(claims["sub"]),
        role=role,
        issued_at=datetime.fromtimestamp(float(claims.get("ts", claims["iat"])), UTC),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
    )
