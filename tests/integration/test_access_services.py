"""Users, API keys and authentication as services, against a real database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from app.db import session_scope
from app.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from app.models.user import Role, UserCreate
from app.services import api_keys as api_key_service
from app.services import auth as auth_service
from app.services import users as user_service
from app.services.auth import bearer_token
from tests import factories

if TYPE_CHECKING:
    from app.config import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def settings(request: pytest.FixtureRequest) -> Settings:
    name = "embedded_settings" if request.param == "sqlite" else "service_settings"
    settings: Settings = request.getfixturevalue(name)
    return settings


def test_bearer_headers() -> None:
    assert bearer_token(None) is None
    assert bearer_token("   ") is None
    assert bearer_token("Bearer abc ") == "abc"
    assert bearer_token("bearer abc") == "abc"
    for bad in ("Basic abc", "Bearer", "Bearer    ", "abc"):
        with pytest.raises(Unauthenticated, match="Bearer <token>"):
            bearer_token(bad)


async def test_the_last_admin_cannot_be_demoted_or_disabled(settings: Settings) -> None:
    async with session_scope(settings) as session:
        existing = await user_service.list_page(session=session, first=200)
        for user in existing.items:  # a clean slate of admins for this database
            if user.role is Role.ADMIN:
                user.role = Role.VIEWER
                session.add(user)
    admin, _ = await factories.make_user(settings, Role.ADMIN)
    async with session_scope(settings) as session:
        with pytest.raises(InvalidInput, match="last active admin"):
            await user_service.set_role(session=session, user_id=admin.id, role=Role.VIEWER)
        with pytest.raises(InvalidInput, match="last active admin"):
            await user_service.set_active(session=session, user_id=admin.id, active=False)
    second, _ = await factories.make_user(settings, Role.ADMIN)
    async with session_scope(settings) as session:
        demoted = await user_service.set_role(session=session, user_id=admin.id, role=Role.OPERATOR)
        assert demoted.role is Role.OPERATOR
        assert demoted.tokens_valid_after is not None
        disabled = await user_service.set_active(session=session, user_id=demoted.id, active=False)
        assert not disabled.is_active
        again = await user_service.set_active(session=session, user_id=demoted.id, active=True)
        assert again.is_active
        listed = await user_service.list_page(session=session, first=200)
        assert {admin.id, second.id} <= {user.id for user in listed.items}


async def test_api_keys_from_issue_to_revocation(settings: Settings) -> None:
    owner, _ = await factories.make_user(settings, Role.OPERATOR)
    async with session_scope(settings) as session:
        with pytest.raises(Forbidden, match="more than its owner's role"):
            await api_key_service.create(
                session=session, owner=owner, name="too much", role=Role.ADMIN
            )
        with pytest.raises(InvalidInput, match="name must be"):
            await api_key_service.create(session=session, owner=owner, name="")
        issued = await api_key_service.create(session=session, owner=owner, name="ci")
        assert issued.key.role is Role.OPERATOR
        assert issued.secret not in issued.key.digest
    async with session_scope(settings) as session:
        caller = await auth_service.authenticate(
            session=session, settings=settings, token=issued.secret
        )
        assert (caller.user.id, caller.role, caller.via_api_key) == (owner.id, Role.OPERATOR, True)
        keys = await api_key_service.list_for(session=session, user=owner)
        assert keys[0].last_used_at is not None
        # The owner is demoted: the key grants no more than the owner holds now.
        await user_service.set_role(session=session, user_id=owner.id, role=Role.VIEWER)
    async with session_scope(settings) as session:
        grant = await api_key_service.authenticate(session=session, secret=issued.secret)
        assert grant.role is Role.VIEWER
        with pytest.raises(Unauthenticated, match="invalid"):
            await api_key_service.authenticate(session=session, secret=issued.secret + "x")
        with pytest.raises(Unauthenticated, match="invalid"):
            await api_key_service.authenticate(session=session, secret="dfk_nothing_here")
        await user_service.set_active(session=session, user_id=owner.id, active=False)
    async with session_scope(settings) as session:
        with pytest.raises(Unauthenticated, match="disabled"):
            await api_key_service.authenticate(session=session, secret=issued.secret)
        revoked = await api_key_service.revoke(session=session, key_id=issued.key.id)
        again = await api_key_service.revoke(session=session, key_id=issued.key.id)
        assert revoked.revoked_at == again.revoked_at
        with pytest.raises(Unauthenticated, match="revoked"):
            await api_key_service.authenticate(session=session, secret=issued.secret)
        with pytest.raises(NotFound):
            await api_key_service.revoke(session=session, key_id="missing")


async def test_a_token_for_a_deleted_account_is_refused(settings: Settings) -> None:
    from app.security import create_access_token

    token = create_access_token(user_id="no-such-user", role=Role.ADMIN, settings=settings)
    async with session_scope(settings) as session:
        with pytest.raises(Unauthenticated, match="gone or disabled"):
            await auth_service.authenticate(session=session, settings=settings, token=token)


async def test_an_owner_may_hold_at_most_fifty_keys(embedded_settings: Settings) -> None:
    async with session_scope(embedded_settings) as session:
        owner = await user_service.create(
            session=session,
            data=UserCreate(email="keys@example.com", password="long-enough", role=Role.VIEWER),
        )
        for index in range(api_key_service.MAX_KEYS_PER_USER):
            await api_key_service.create(session=session, owner=owner, name=f"k{index}")
        with pytest.raises(InvalidInput, match="at most 50 keys"):
            await api_key_service.create(session=session, owner=owner, name="one more")
