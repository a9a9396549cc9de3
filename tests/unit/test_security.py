"""Passwords and access tokens: good ones pass, expired, tampered and foreign ones do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from app.config import Settings
from app.errors import Unauthenticated
from app.models.user import Role
from app.security import create_access_token, decode_access_token, hash_password, verify_password


@pytest.fixture
def settings() -> Settings:
    return Settings(secret_key="unit-test-secret-key-0123456789abcdef", access_token_minutes=5)


def test_password_hash_verifies_only_the_right_password() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password("not-a-hash", "correct horse")


def test_token_round_trip(settings: Settings) -> None:
    token = create_access_token(user_id="u1", role=Role.OPERATOR, settings=settings)
    claims = decode_access_token(token, settings=settings)
    assert (claims.user_id, claims.role) == ("u1", Role.OPERATOR)
    assert claims.expires_at > datetime.now(UTC)


def test_expired_token_is_refused(settings: Settings) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    token = create_access_token(user_id="u1", role=Role.ADMIN, settings=settings, now=long_ago)
    with pytest.raises(Unauthenticated, match="expired"):
        decode_access_token(token, settings=settings)


def test_tampered_token_is_refused(settings: Settings) -> None:
    token = create_access_token(user_id="u1", role=Role.VIEWER, settings=settings)
    header, _payload, signature = token.split(".")
    forged = jwt.encode(
        {"sub": "u1", "role": "admin"}, "an-attacker-guessed-key-0123456789abc", algorithm="HS256"
    ).split(".")[1]
    with pytest.raises(Unauthenticated, match="invalid"):
        decode_access_token(f"{header}.{forged}.{signature}", settings=settings)


def test_token_signed_with_another_key_is_refused(settings: Settings) -> None:
    other = Settings(secret_key="another-secret-key-0123456789abcdefgh")
    token = create_access_token(user_id="u1", role=Role.ADMIN, settings=other)
    with pytest.raises(Unauthenticated):
        decode_access_token(token, settings=settings)


def test_token_with_an_unknown_role_is_refused(settings: Settings) -> None:
    now = datetime.now(UTC)
    claims = {
        "sub": "u1",
        "role": "root",
        "iat": now,
        "exp": now + timedelta(minutes=1),
        "iss": "dataflow",
    }
    token = jwt.encode(claims, settings.signing_key(), algorithm="HS256")
    with pytest.raises(Unauthenticated, match="unknown role"):
        decode_access_token(token, settings=settings)
