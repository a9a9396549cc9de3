"""The bad-input and attack corpus for auth: credentials, sockets, login throttles and
GraphQL documents. Every case is refused with a typed error naming what is wrong (never
INTERNAL_ERROR), over real HTTP and WebSockets against the real app. Add a case as one
line in its table."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import websockets

from app import migrate
from app.config import Environment, Settings
from app.db import session_scope
from app.models.user import Role
from app.security import create_access_token
from app.services import api_keys as api_key_service
from app.services import users as user_service
from tests import factories
from tests.e2e import operations as ops
from tests.live import live_server

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from pathlib import Path

    from websockets.asyncio.client import ClientConnection

    from app.models.user import User

GRAPHQL_RESPONSE = "application/graphql-response+json"
TYPED_REFUSALS = {"GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT", "BAD_REQUEST"}
CLOSE_DEADLINE = 30  # seconds to wait for a socket to be closed (the bound is 2 s)


def _settings(tmp_path: Path, env: Environment) -> Settings:
    settings = Settings(
        env=env,
        data_dir=tmp_path / "data",
        file_roots=[tmp_path],
        database_url=None,
        warehouse_url=None,
        redis_url=None,
        secret_key="corpus-auth-secret-key-0123456789",
    )
    migrate.upgrade(settings.metadata_url)
    return settings


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server as production runs it: introspection off."""
    with live_server(_settings(tmp_path_factory.mktemp("prod"), Environment.PROD)) as url:
        yield url


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(_settings(tmp_path_factory.mktemp("dev"), Environment.DEV)) as url:
        yield url


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    """A server of the test's own (login budgets and accounts start empty)."""
    with live_server(embedded_settings) as url:
        yield url


async def post(
    url: str,
    body: dict[str, Any],
    *,
    accept: str = "application/json",
    token: str | None = None,
    address: str = "127.0.0.1",
) -> httpx.Response:
    headers = {"accept": accept, **({"authorization": f"Bearer {token}"} if token else {})}
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=60) as client:
        return await client.post("/graphql", json=body, headers=headers)


def codes_of(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


async def socket_frames(url: str, payload: dict[str, Any], init: dict[str, Any]) -> list[Any]:
    """The frames answering one subscribe message, until its error or complete."""
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 20))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        frames: list[Any] = []
        async with asyncio.timeout(20):
            while not frames or frames[-1]["type"] not in {"error", "complete"}:
                frames.append(json.loads(await ws.recv()))
        return frames


# ---------------------------------------------------------------------------------------
# Documents: misspelled names are no guide to the schema when introspection is off.

SUGGESTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("field", '{ pipelne(id: "x") { id } }', {}),
    ("nested field", "{ runs { nodes { statu } } }", {}),
    ("argument", "{ runs(filtr: {}) { nodes { id } } }", {}),
    ("input field", '{ runs(filter: {pipelinId: "x"}) { nodes { id } } }', {}),
    ("enum literal", "{ runs(filter: {statuses: [QUEUD]}) { nodes { id } } }", {}),
    (
        "enum variable",
        "query($s: [RunStatus!]) { runs(filter: {statuses: $s}) { nodes { id } } }",
        {"s": ["QUEUD"]},
    ),
    ("type", "query($f: RunFiltr) { runs(filter: $f) { nodes { id } } }", {}),
    ("mutation", 'mutation { triggerRn(pipelineId: "x") { errors { code } } }', {}),
    ("subscription", "subscription { runUpdate { id } }", {}),
]


@pytest.mark.parametrize(
    ("what", "query", "variables"), SUGGESTIONS, ids=[c[0] for c in SUGGESTIONS]
)
async def test_prod_suggests_no_names(
    prod: str, dev: str, what: str, query: str, variables: dict[str, Any]
) -> None:
    body = {"query": query, "variables": variables}
    shown = (await post(dev, body)).json()
    # In dev the message does help (so the case is one that would leak) ...
    assert any("Did you mean" in e["message"] for e in shown["errors"]), (what, shown)
    hidden = (await post(prod, body)).json()
    # ... in prod the same refusal, typed, without it.
    assert set(codes_of(hidden)) <= TYPED_REFUSALS, (what, hidden)
    assert codes_of(hidden) == codes_of(shown), (what, hidden)
    assert not any("Did you mean" in e["message"] for e in hidden["errors"]), (what, hidden)


# ---------------------------------------------------------------------------------------
# Documents: several operations and no operationName is a request error, not "the first".

MANY_OPERATIONS = [
    "query A { __typename } query B { __typename }",
    "query A { __typename } mutation B { __typename }",
    "mutation A { __typename } query B { __typename }",
    "query A { __typename } query B { __typename } query C { __typename }",
    "fragment F on Query { __typename } query A { ...F } query B { ...F }",
    "subscription A { runUpdates { id } } query B { __typename }",
]


@pytest.mark.parametrize("query", MANY_OPERATIONS)
async def test_several_operations_without_a_name_are_refused_over_http(
    dev: str, query: str
) -> None:
    strict = await post(dev, {"query": query}, accept=GRAPHQL_RESPONSE)
    assert strict.status_code == 400, strict.text
    assert "data" not in strict.json()
    assert codes_of(strict.json()) == ["BAD_REQUEST"]
    assert "operationName" in strict.json()["errors"][0]["message"]
    plain = await post(dev, {"query": query})
    assert plain.status_code == 200
    assert codes_of(plain.json()) == ["BAD_REQUEST"]
    assert plain.json().get("data") is None


@pytest.mark.parametrize("query", MANY_OPERATIONS)
async def test_several_operations_without_a_name_are_refused_over_websocket(
    dev: str, query: str
) -> None:
    frames = await socket_frames(dev, {"query": query}, {})
    assert [frame["type"] for frame in frames] == ["error"], frames
    assert [e["extensions"]["code"] for e in frames[0]["payload"]] == ["BAD_REQUEST"]


async def test_a_named_operation_of_several_runs_that_one(dev: str) -> None:
    query = "query A { a: __typename } query B { b: __typename }"
    answer = (await post(dev, {"query": query, "operationName": "B"})).json()
    assert answer == {"data": {"b": "Query"}}
    frames = await socket_frames(dev, {"query": query, "operationName": "A"}, {})
    assert frames[0] == {"id": "1", "type": "next", "payload": {"data": {"a": "Query"}}}


# ---------------------------------------------------------------------------------------
# Credentials: anything but a good one is UNAUTHENTICATED over HTTP, and closes the
# socket in connection_init.


@dataclass(frozen=True)
class Account:
    settings: Settings
    user: User
    token: str


def _token_for(account: Account, **changes: Any) -> str:
    return create_access_token(
        user_id=account.user.id, role=account.user.role, settings=account.settings, **changes
    )


def _other_key(account: Account) -> str:
    other = account.settings.model_copy(
        update={"secret_key": "another-secret-key-0123456789abcdef"}
    )
    return create_access_token(user_id=account.user.id, role=account.user.role, settings=other)


BAD_AUTHORIZATIONS: dict[str, Callable[[Account], str]] = {
    "no token": lambda _: "Bearer",
    "basic scheme": lambda _: "Basic dXNlcjpwYXNz",
    "token without scheme": lambda account: account.token,
    "not a JWT": lambda _: "Bearer not-a-jwt",
    "JWT of nothing": lambda _: "Bearer a.b.c",
    "tampered payload": lambda account: "Bearer " + account.token.replace(".", ".x", 1),
    "signed with another key": lambda account: "Bearer " + _other_key(account),
    "expired": lambda account: (
        "Bearer " + _token_for(account, now=datetime.now(UTC) - timedelta(days=1))
    ),
    "unknown API key": lambda _: "Bearer dfk_000000000000_" + "x" * 43,
    "API key of no prefix": lambda _: "Bearer dfk_",
    "token and more": lambda account: f"Bearer {account.token} {account.token}",
    "long token": lambda _: "Bearer " + "a" * 10_000,  # under the server's header limit
}


@pytest.fixture
async def account(embedded_settings: Settings) -> Account:
    user, token = await factories.make_user(embedded_settings, Role.VIEWER)
    return Account(embedded_settings, user, token)


@pytest.mark.parametrize("case", BAD_AUTHORIZATIONS)
async def test_a_bad_credential_is_unauthenticated(
    server: str, account: Account, case: str
) -> None:
    header = BAD_AUTHORIZATIONS[case](account)
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ me { email } }"},
            headers={"authorization": header},
        )
    assert codes_of(response.json()) == ["UNAUTHENTICATED"], (case, response.text)
    ws_url = server.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": header}}))
        closed = await _closed_with(ws)
    assert closed == 4403, case


async def _closed_with(ws: ClientConnection) -> int | None:
    """The close code the server ends the socket with (frames before it are dropped)."""
    async with asyncio.timeout(CLOSE_DEADLINE):
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed:
            pass
    received = ws.protocol.close_rcvd
    return received.code if received is not None else None


# ---------------------------------------------------------------------------------------
# Sockets: whatever ends a credential ends the sockets opened with it (4401).


@dataclass(frozen=True)
class Holder:
    settings: Settings
    user: User
    token: str
    key_id: str
    key: str


async def _disable(holder: Holder) -> None:
    async with session_scope(holder.settings) as session:
        await user_service.set_active(session=session, user_id=holder.user.id, active=False)


async def _demote(holder: Holder) -> None:
    async with session_scope(holder.settings) as session:
        await user_service.set_role(session=session, user_id=holder.user.id, role=Role.VIEWER)


async def _revoke(holder: Holder) -> None:
    async with session_scope(holder.settings) as session:
        await api_key_service.revoke(session=session, key_id=holder.key_id)


async def _nothing(_: Holder) -> None:
    return None


def _expiring(holder: Holder) -> str:
    lifetime = timedelta(minutes=holder.settings.access_token_minutes)
    issued = datetime.now(UTC) - lifetime + timedelta(seconds=2)
    return create_access_token(
        user_id=holder.user.id, role=holder.user.role, settings=holder.settings, now=issued
    )


# (the credential the socket opens with, what then happens to the account)
ENDINGS: dict[str, tuple[Callable[[Holder], str], Callable[[Holder], Awaitable[None]]]] = {
    "token, account disabled": (lambda h: h.token, _disable),
    "key, account disabled": (lambda h: h.key, _disable),
    "key revoked": (lambda h: h.key, _revoke),
    "token, role changed": (lambda h: h.token, _demote),  # a role change revokes tokens
    "token expires": (_expiring, _nothing),
}


@pytest.fixture
async def holder(embedded_settings: Settings) -> Holder:
    user, token = await factories.make_user(embedded_settings, Role.OPERATOR)
    async with session_scope(embedded_settings) as session:
        issued = await api_key_service.create(session=session, owner=user, name="corpus")
    return Holder(embedded_settings, user, token, issued.key.id, issued.secret)


@pytest.mark.parametrize("case", ENDINGS)
async def test_an_ended_credential_closes_its_socket(
    server: str, holder: Holder, case: str
) -> None:
    credential, end = ENDINGS[case]
    ws_url = server.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"Authorization": f"Bearer {credential(holder)}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 20))["type"] == "connection_ack"
        subscribe = {"query": "subscription { runUpdates { id status } }"}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        await end(holder)
        assert await _closed_with(ws) == 4401, case


# ---------------------------------------------------------------------------------------
# Throttles: odd logins are typed refusals, and spellings of one account share its budget.

ODD_LOGINS: list[tuple[str, str, str]] = [
    ("unknown account", "nobody@example.com", "whatever-pass"),
    ("empty email", "", "whatever-pass"),
    ("empty password", "someone@example.com", ""),
    ("very long email", "a" * 100_000 + "@example.com", "whatever-pass"),
    ("very long password", "someone@example.com", "p" * 1_000_000),
    ("NUL in email", "some\x00one@example.com", "whatever-pass"),
    ("SQL in email", "' OR 1=1 --@example.com", "whatever-pass"),
]


@pytest.mark.parametrize(("what", "email", "password"), ODD_LOGINS, ids=[c[0] for c in ODD_LOGINS])
async def test_an_odd_login_is_a_typed_refusal(
    server: str, what: str, email: str, password: str
) -> None:
    body = (
        await post(
            server, {"query": ops.LOGIN, "variables": {"email": email, "password": password}}
        )
    ).json()
    assert "errors" not in body, (what, body)
    codes = [error["code"] for error in body["data"]["login"]["errors"]]
    assert codes in (["UNAUTHENTICATED"], ["INVALID_INPUT"]), (what, body)
    assert body["data"]["login"]["token"] is None


SPELLINGS = ["{}", "{}".upper(), " {} ", "{}".title()]


async def test_spellings_of_one_account_share_its_budget(
    server: str, embedded_settings: Settings
) -> None:
    user, _ = await factories.make_user(embedded_settings, Role.VIEWER)
    codes = []
    for spelling in [*SPELLINGS, *SPELLINGS]:
        variables = {"email": spelling.format(user.email), "password": "wrong-one"}
        body = (await post(server, {"query": ops.LOGIN, "variables": variables})).json()
        codes.append(body["data"]["login"]["errors"][0]["code"])
    assert codes.count("UNAUTHENTICATED") <= 5, codes  # the per-(account, address) budget
    assert codes[-1] == "RATE_LIMITED", codes
