"""GraphQL on the wire: queries and mutations over HTTP (httpx), subscriptions over
graphql-transport-ws (websockets)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
from websockets.exceptions import ConnectionClosedOK, InvalidHandshake, WebSocketException
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from app.client.errors import ConnectionFailed, from_graphql_error

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from websockets.sync.client import ClientConnection

PROTOCOL = Subprotocol("graphql-transport-ws")


class SubscriptionDropped(ConnectionFailed):
    """The WebSocket closed before the server completed the subscription."""


class Transport:
    """One API endpoint, one bearer token; raises ClientError subclasses, never httpx's."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout

    @property
    def endpoint(self) -> str:
        return f"{self.url}/graphql"

    def execute(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of the response; the first GraphQL error is raised as ClientError."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = httpx.post(
                self.endpoint,
                json={"query": document, "variables": dict(variables or {})},
                headers=headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as error:
            raise ConnectionFailed(
                "CONNECTION_FAILED", f"could not reach {self.endpoint}: {error}"
            ) from None
        return _data(response, self.endpoint)

    def subscribe(
        self, document: str, variables: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Each `next` payload's data, until the server completes the subscription."""
        ws_url = "ws" + self.endpoint.removeprefix("http")
        try:
            with connect(ws_url, subprotocols=[PROTOCOL], open_timeout=self.timeout) as ws:
                self._start(ws, document, variables)
                yield from _payloads(ws)
        except ConnectionClosedOK:
            raise SubscriptionDropped(
                "SUBSCRIPTION_CLOSED", f"{ws_url} closed the subscription before it completed"
            ) from None
        except (OSError, InvalidHandshake, WebSocketException, TimeoutError) as error:
            raise SubscriptionDropped(
                "CONNECTION_FAILED", f"subscription to {ws_url} failed: {error}"
            ) from None

    def _start(
        self, ws: ClientConnection, document: str, variables: Mapping[str, Any] | None
    ) -> None:
        """Authenticate in `connection_init`, then start the one subscription (id 1)."""
        init = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        ws.send(json.dumps({"type": "connection_init", "payload": init}))
        ack = json.loads(ws.recv(timeout=self.timeout))
        if ack.get("type") != "connection_ack":
            raise ConnectionFailed("SUBSCRIPTION_REFUSED", f"no connection_ack: {ack}")
        payload = {"query": document, "variables": dict(variables or {})}
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))


def _payloads(ws: ClientConnection) -> Iterator[dict[str, Any]]:
    """Each `next` frame's data until `complete`; the server's pings are answered."""
    while True:
        frame = json.loads(ws.recv())
        kind = frame.get("type")
        if kind == "complete":
            return
        if kind == "next":
            yield _next_data(frame["payload"])
        elif kind == "error":
            raise from_graphql_error(_first(frame["payload"]))
        elif kind == "ping":
            ws.send(json.dumps({"type": "pong"}))


def _data(response: httpx.Response, endpoint: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ConnectionFailed(
            f"HTTP_{response.status_code}",
            f"{endpoint} answered {response.status_code} without GraphQL: {response.text[:200]!r}",
        ) from None
    if not isinstance(body, dict):
        raise ConnectionFailed("BAD_RESPONSE", f"{endpoint} answered {body!r}")
    if body.get("errors"):
        raise from_graphql_error(_first(body["errors"]))
    data = body.get("data")
    if not isinstance(data, dict):
        raise ConnectionFailed("BAD_RESPONSE", f"{endpoint} answered without data")
    return data


def _next_data(payload: Mapping[str, Any]) -> dict[str, Any]:
    if payload.get("errors"):
        raise from_graphql_error(_first(payload["errors"]))
    data: dict[str, Any] = payload["data"]
    return data


def _first(errors: Any) -> Mapping[str, Any]:
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first: Mapping[str, Any] = errors[0]
        return first
    return {"message": str(errors)}
