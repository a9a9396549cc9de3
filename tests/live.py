"""A real uvicorn server in a background thread, and a small GraphQL client (HTTP + WS)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
import websockets

from app.analytics.service import close_services
from app.cli.server import create_app

if TYPE_CHECKING:
    import subprocess
    from collections.abc import AsyncIterator, Callable, Iterator
    from pathlib import Path

    from starlette.types import ASGIApp

    from app.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(settings: Settings, app: ASGIApp | None = None) -> Iterator[str]:
    """Serve `app` (default: the whole API, as `dataflow serve` composes it for
    `settings`) on a free port; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(  # as `dataflow serve` runs it (app/cli/processes.py)
        create_app(settings) if app is None else app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@asynccontextmanager
async def live_analytics_server(settings: Settings) -> AsyncIterator[str]:
    """`live_server`, with the analytics engines closed after it."""
    with live_server(settings) as url:
        yield url
    await close_services()


def wait_until_healthy(
    url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 90
) -> None:
    """Wait for a `dataflow` server subprocess to answer /healthz; fail with its log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dataflow exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"dataflow did not answer /healthz:\n{log.read_text()}")


class GraphQLClient:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.token = token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            response = await client.post(
                "/graphql",
                json={"query": query, "variables": variables or {}},
                headers=self._headers(),
            )
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a response that must have no GraphQL errors."""
        body = await self.post(query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def subscribe(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        init_payload: dict[str, Any] | None = None,
        timeout: float = 60,
        stop_after: int | None = None,
        until: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Run a subscription over graphql-transport-ws; returns every `next` payload.

        Ends on `complete`, or disconnects early after `stop_after` messages or at the
        first message `until` accepts."""
        url = self.base_url.replace("http://", "ws://") + "/graphql"
        if init_payload is None:
            init_payload = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        received: list[dict[str, Any]] = []
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": init_payload}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            assert ack["type"] == "connection_ack", ack
            message = {"query": query, "variables": variables or {}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": message}))
            async with asyncio.timeout(timeout):
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "next":
                        received.append(frame["payload"])
                        if stop_after is not None and len(received) >= stop_after:
                            return received
                        if until is not None and until(frame["payload"]):
                            return received
                    elif frame["type"] == "complete":
                        return received
                    elif frame["type"] == "error":
                        received.append({"errors": frame["payload"]})
                        return received
