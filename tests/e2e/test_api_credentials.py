"""Credentials: expired, tampered and revoked ones are refused over HTTP and in
`connection_init`; API keys work until revoked; logins are throttled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import websockets

from app.models.user import Role
from app.security import create_access_token
from tests import factories
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator

    from app.config import Settings

ME = "{ me { email role } }"
CREATE_KEY = """
mutation($user: ID, $role: Role) {
  createApiKey(input: {name: "ci", userId: $user, role: $role}) {
    apiKey { id prefix role } secret errors { code message }
  }
}"""
REVOKE_KEY = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } errors { code } } }"
SET_ROLE = (
    "mutation($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { errors { code } } }"
)


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


async def refused_everywhere(server: str, token: str, reason: str) -> None:
    """The credential is refused over HTTP and closes the socket in connection_init."""
    body = await GraphQLClient(server, token).post(ME)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert reason in body["errors"][0]["message"]
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await GraphQLClient(server, token).subscribe(ops.RUN_EVENTS, {"runId": "x"}, timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_expired_and_tampered_tokens(server: str, embedded_settings: Settings) -> None:
    user, token = await factories.make_user(embedded_settings, Role.VIEWER)
    assert (await GraphQLClient(server, token).data(ME))["me"]["email"] == user.email
    past = datetime.now(UTC) - timedelta(days=1)
    expired = create_access_token(
        user_id=user.id, role=user.role, settings=embedded_settings, now=past
    )
    await refused_everywhere(server, expired, "expired")
    header, payload, signature = token.split(".")
    await refused_everywhere(server, f"{header}.{payload}x.{signature}", "invalid")


async def test_a_role_change_revokes_earlier_tokens(
    server: str, embedded_settings: Settings
) -> None:
    user, token = await factories.make_user(embedded_settings, Role.OPERATOR)
    _, admin = await factories.make_user(embedded_settings, Role.ADMIN)
    # Used once first, so the server knows (and caches) this caller before the change.
    assert (await GraphQLClient(server, token).data(ME))["me"]["role"] == "OPERATOR"
    changed = await GraphQLClient(server, admin).data(SET_ROLE, {"id": user.id, "role": "VIEWER"})
    assert changed["setUserRole"]["errors"] == []
    await refused_everywhere(server, token, "revoked")
    login = await GraphQLClient(server).data(
        ops.LOGIN, {"email": user.email, "password": "s3cret-pass"}
    )
    fresh = GraphQLClient(server, login["login"]["token"])
    assert (await fresh.data(ME))["me"]["role"] == "VIEWER"


async def test_api_keys_act_for_their_owner_until_revoked(
    server: str, embedded_settings: Settings
) -> None:
    operator, _ = await factories.make_user(embedded_settings, Role.OPERATOR)
    _, admin_token = await factories.make_user(embedded_settings, Role.ADMIN)
    admin = GraphQLClient(server, admin_token)

    too_much = await admin.data(CREATE_KEY, {"user": operator.id, "role": "ADMIN"})
    assert too_much["createApiKey"]["errors"][0]["code"] == "FORBIDDEN"

    issued = (await admin.data(CREATE_KEY, {"user": operator.id, "role": "VIEWER"}))["createApiKey"]
    secret = issued["secret"]
    assert secret.startswith("dfk_")
    assert issued["apiKey"]["prefix"] in secret
    script = GraphQLClient(server, secret)
    assert (await script.data(ME))["me"]["email"] == operator.email
    # The key grants VIEWER though its owner is an operator.
    denied = await script.post(ops.TRIGGER_RUN, {"pipelineId": "x"})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    revoked = await admin.data(REVOKE_KEY, {"id": issued["apiKey"]["id"]})
    assert revoked["revokeApiKey"]["apiKey"]["revokedAt"] is not None
    await refused_everywhere(server, secret, "revoked")
    await refused_everywhere(server, secret[:-3] + "abc", "invalid")


async def test_logins_are_throttled_per_account(server: str, embedded_settings: Settings) -> None:
    user, _ = await factories.make_user(embedded_settings, Role.VIEWER)
    client = GraphQLClient(server)
    codes = []
    for _ in range(6):
        result = await client.data(ops.LOGIN, {"email": user.email, "password": "wrong-one"})
        codes.append(result["login"]["errors"][0]["code"])
    assert codes == ["UNAUTHENTICATED"] * 5 + ["RATE_LIMITED"]
    # Even the right password waits out the window now.
    right = await client.data(ops.LOGIN, {"email": user.email, "password": "s3cret-pass"})
    assert right["login"]["token"] is None
    assert right["login"]["errors"][0]["code"] == "RATE_LIMITED"


async def test_a_disabled_account_loses_its_tokens(
    server: str, embedded_settings: Settings
) -> None:
    user, token = await factories.make_user(embedded_settings, Role.VIEWER)
    _, admin = await factories.make_user(embedded_settings, Role.ADMIN)
    assert (await GraphQLClient(server, token).data(ME))["me"]["email"] == user.email
    disabled = await GraphQLClient(server, admin).data(
        "mutation($id: ID!) { setUserActive(userId: $id, active: false) "
        "{ user { isActive } errors { code } } }",
        {"id": user.id},
    )
    assert disabled["setUserActive"] == {"user": {"isActive": False}, "errors": []}
    await refused_everywhere(server, token, "disabled")
