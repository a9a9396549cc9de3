"""Open WebSockets follow their account: a disabled user, a revoked key or an expired
token closes the socket with 4401 and refuses what it asks meanwhile; a smaller role is
what the socket's later operations get. Over real sockets against the real app, embedded
and (the cross-replica case) against an API process of its own on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import websockets

from app.db import session_scope
from app.models.user import Role
from app.security import create_access_token
from app.services import api_keys as api_key_service
from app.services.auth import Caller
from graph.context import (
    CLOSE_CREDENTIAL_ENDED,
    CLOSE_ROLE_TOO_SMALL,
    socket_verdict,
)
from tests import factories
from tests.live import GraphQLClient, free_port, live_server, wait_until_healthy
from tests.workers import worker_environment

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from websockets.asyncio.client import ClientConnection

    from app.config import Settings

# Of a pipeline no run belongs to: Redis pub/sub channels ignore the database number, so
# the updates of all runs would include other test sessions' runs on this Redis.
NO_PIPELINE = str(uuid.uuid4())
RUN_UPDATES = f'subscription {{ runUpdates(pipelineId: "{NO_PIPELINE}") {{ id status }} }}'
ME = "{ me { email role } }"
# Any operator-only field: the permission check comes before the pipeline is looked up.
TRIGGER = 'mutation { triggerRun(pipelineId: "no-such-pipeline") { errors { code } } }'
CLOSE_DEADLINE = 30  # seconds: generous; the bound itself is 2 s


@asynccontextmanager
async def open_socket(base_url: str, credential: str) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws socket, acknowledged, with `credential` in connection_init."""
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {credential}"}}
        await ws.send(json.dumps(init))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert ack["type"] == "connection_ack", ack
        yield ws


async def subscribe(ws: ClientConnection, operation_id: str, query: str) -> None:
    message = {"id": operation_id, "type": "subscribe", "payload": {"query": query}}
    await ws.send(json.dumps(message))


async def frames_until_closed(ws: ClientConnection) -> tuple[list[dict[str, Any]], int]:
    """Every frame the server sends until it closes the socket, and the close code."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(CLOSE_DEADLINE):
        while (frame := await next_frame(ws)) is not None:
            frames.append(frame)
    received = ws.protocol.close_rcvd
    assert received is not None, "the server did not close the socket"
    return frames, received.code


async def next_frame(ws: ClientConnection) -> dict[str, Any] | None:
    """The next frame, or None once the socket is closed."""
    try:
        frame: dict[str, Any] = json.loads(await ws.recv())
    except websockets.ConnectionClosed:
        return None
    return frame


async def answer(ws: ClientConnection, operation_id: str, query: str) -> dict[str, Any]:
    """The first frame for a query sent over the socket (`next` or `error`)."""
    await subscribe(ws, operation_id, query)
    async with asyncio.timeout(20):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame.get("id") == operation_id and frame["type"] in {"next", "error"}:
                return frame


def error_codes(frame: dict[str, Any]) -> list[str]:
    errors = frame["payload"] if frame["type"] == "error" else frame["payload"].get("errors", [])
    return [error["extensions"]["code"] for error in errors]


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


async def admin_client(server: str, settings: Settings) -> GraphQLClient:
    _, token = await factories.make_user(settings, Role.ADMIN)
    return GraphQLClient(server, token)


async def test_disabling_the_user_closes_the_socket_and_refuses_its_new_subscriptions(
    server: str, embedded_settings: Settings
) -> None:
    admin = await admin_client(server, embedded_settings)
    user, token = await factories.make_user(embedded_settings, Role.VIEWER)
    async with open_socket(server, token) as ws:
        await subscribe(ws, "running", RUN_UPDATES)
        assert (await answer(ws, "me", ME))["payload"]["data"]["me"]["role"] == "VIEWER"
        disabled = await admin.data(
            "mutation($u: ID!) { setUserActive(userId: $u, active: false) { errors { code } } }",
            {"u": user.id},
        )
        assert disabled["setUserActive"]["errors"] == []
        await subscribe(ws, "late", RUN_UPDATES)  # sent before the socket closes
        frames, code = await frames_until_closed(ws)
    assert code == CLOSE_CREDENTIAL_ENDED
    late = [frame for frame in frames if frame.get("id") == "late"]
    # Refused with its error, or the socket closed before it was read: never accepted.
    assert all(frame["type"] == "error" for frame in late), late
    assert all(error_codes(frame) == ["UNAUTHENTICATED"] for frame in late), late
    assert not [frame for frame in frames if frame["type"] == "next"], frames


async def test_revoking_a_key_closes_its_socket(server: str, embedded_settings: Settings) -> None:
    admin = await admin_client(server, embedded_settings)
    owner, _ = await factories.make_user(embedded_settings, Role.OPERATOR)
    async with session_scope(embedded_settings) as session:
        issued = await api_key_service.create(session=session, owner=owner, name="dashboard")
    async with open_socket(server, issued.secret) as ws:
        await subscribe(ws, "running", RUN_UPDATES)
        assert "errors" not in (await answer(ws, "me", ME))["payload"]
        revoked = await admin.data(
            "mutation($k: ID!) { revokeApiKey(id: $k) { errors { code } } }", {"k": issued.key.id}
        )
        assert revoked["revokeApiKey"]["errors"] == []
        frames, code = await frames_until_closed(ws)
    assert code == CLOSE_CREDENTIAL_ENDED
    assert not [frame for frame in frames if frame["type"] == "next"], frames


async def test_a_smaller_role_is_what_the_open_socket_gets_from_then_on(
    server: str, embedded_settings: Settings
) -> None:
    admin = await admin_client(server, embedded_settings)
    owner, _ = await factories.make_user(embedded_settings, Role.OPERATOR)
    async with session_scope(embedded_settings) as session:
        issued = await api_key_service.create(session=session, owner=owner, name="ops")
    async with open_socket(server, issued.secret) as ws:
        await subscribe(ws, "running", RUN_UPDATES)  # needs VIEWER: it may go on
        before = await answer(ws, "before", TRIGGER)
        assert before["payload"]["data"]["triggerRun"]["errors"][0]["code"] == "PIPELINE_NOT_FOUND"
        demoted = await admin.data(
            "mutation($u: ID!) { setUserRole(userId: $u, role: VIEWER) { errors { code } } }",
            {"u": owner.id},
        )
        assert demoted["setUserRole"]["errors"] == []
        after = await answer(ws, "after", TRIGGER)
        assert error_codes(after) == ["FORBIDDEN"], after
        # Still open, and the running subscription was neither ended nor refused.
        assert (await answer(ws, "me", ME))["payload"]["data"]["me"]["role"] == "VIEWER"
        await ws.send(json.dumps({"type": "ping"}))
        async with asyncio.timeout(20):
            while (frame := json.loads(await ws.recv()))["type"] != "pong":
                assert frame.get("id") != "running", frame


async def test_an_expiring_token_closes_its_socket(
    server: str, embedded_settings: Settings
) -> None:
    user, _ = await factories.make_user(embedded_settings, Role.VIEWER)
    lifetime = timedelta(minutes=embedded_settings.access_token_minutes)
    # Issued so that it expires a few seconds from now.
    issued = datetime.now(UTC) - lifetime + timedelta(seconds=3)
    token = create_access_token(
        user_id=user.id, role=user.role, settings=embedded_settings, now=issued
    )
    async with open_socket(server, token) as ws:
        await subscribe(ws, "running", RUN_UPDATES)
        frames, code = await frames_until_closed(ws)
    assert code == CLOSE_CREDENTIAL_ENDED
    assert not [frame for frame in frames if frame["type"] == "next"], frames


@pytest.mark.parametrize(
    ("granted", "needs", "code"),
    [
        (Role.ADMIN, [Role.OPERATOR, Role.VIEWER], None),
        (Role.VIEWER, [Role.VIEWER], None),
        (Role.VIEWER, [], None),
        (Role.VIEWER, [Role.OPERATOR], CLOSE_ROLE_TOO_SMALL),
        (Role.OPERATOR, [Role.VIEWER, Role.ADMIN], CLOSE_ROLE_TOO_SMALL),
    ],
)
async def test_a_role_too_small_for_a_running_operation_closes_with_4403(
    embedded_settings: Settings, granted: Role, needs: list[Role], code: int | None
) -> None:
    # Every subscription today needs only VIEWER, so no real stream reaches this: the
    # verdict is checked on its own. (A credential that ended always wins: 4401.)
    user, _ = await factories.make_user(embedded_settings, granted)
    assert socket_verdict(Caller(user=user, role=granted), None, needs) == code


@pytest.fixture
def other_replica(service_settings: Settings, tmp_path: Path) -> Iterator[str]:
    """The API in a process of its own, as a second replica runs it."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "app.cli.server:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / "replica.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=worker_environment(service_settings), stdout=output, stderr=output
        )
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", process, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.mark.integration
async def test_a_user_disabled_on_one_replica_loses_the_socket_on_another(
    other_replica: str, service_settings: Settings
) -> None:
    user, token = await factories.make_user(service_settings, Role.VIEWER)
    with live_server(service_settings) as this_replica:
        admin = await admin_client(this_replica, service_settings)
        async with open_socket(other_replica, token) as ws:
            await subscribe(ws, "running", RUN_UPDATES)
            assert "errors" not in (await answer(ws, "me", ME))["payload"]
            disabled = await admin.data(
                "mutation($u: ID!) { setUserActive(userId: $u, active: false) "
                "{ errors { code } } }",
                {"u": user.id},
            )
            assert disabled["setUserActive"]["errors"] == []
            frames, code = await frames_until_closed(ws)
    assert code == CLOSE_CREDENTIAL_ENDED
    assert not [frame for frame in frames if frame["type"] == "next"], frames


@pytest.mark.integration
async def test_a_key_revoked_in_the_database_closes_its_socket_on_a_replica(
    other_replica: str, service_settings: Settings
) -> None:
    owner, _ = await factories.make_user(service_settings, Role.OPERATOR)
    async with session_scope(service_settings) as session:
        issued = await api_key_service.create(session=session, owner=owner, name="replica")
    async with open_socket(other_replica, issued.secret) as ws:
        await subscribe(ws, "running", RUN_UPDATES)
        assert "errors" not in (await answer(ws, "me", ME))["payload"]
        async with session_scope(service_settings) as session:
            await api_key_service.revoke(session=session, key_id=issued.key.id)
        frames, code = await frames_until_closed(ws)
    assert code == CLOSE_CREDENTIAL_ENDED
    assert not [frame for frame in frames if frame["type"] == "next"], frames
