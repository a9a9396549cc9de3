"""graphql-transport-ws with shared results: subscribers asking the same thing of the same
run event share one execution (graph/sharing.py) and one JSON encoding, sent as the same
text to each socket; and sockets that follow their account.

Everything else is Strawberry's handler, run as it is (`run_operation` wraps Strawberry's,
`send_message` is its public hook for every message sent): parsing, validation,
permissions (checked per subscriber when its stream starts), the subscription cap, errors
and `complete`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)

from app.errors import Unauthenticated
from graph.context import SOCKET_CHECK_SECONDS, Context
from graph.sharing import SharedResult, Sharing, current_sharing, share_results, shared_results

if TYPE_CHECKING:
    from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
        ConnectionInitMessage,
        Message,
    )

logger = logging.getLogger(__name__)


class SharedResultsTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """The socket follows its account: its credential is verified again when each
    operation starts and every SOCKET_CHECK_SECONDS while it is open. A credential that
    ended (disabled account, revoked key or token, expiry) closes it with 4401, one that
    no longer grants a running operation's role with 4403; a smaller role that still
    suffices is what every later operation sees."""

    _watch: asyncio.Task[None] | None = None
    _wake: asyncio.Event | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.context.holds_credential and not self._watch:
            self._wake = asyncio.Event()
            self._watch = asyncio.create_task(self._watch_credential(self._wake))
            self._watch.add_done_callback(_log_failure)

    async def shutdown(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await super().shutdown()

    async def _watch_credential(self, wake: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), SOCKET_CHECK_SECONDS)
            wake.clear()
            code = await self._verify_again()
            if code is not None:
                reason = self.context.close_reason(code)
                logger.info(
                    "closed a socket whose credential no longer holds (%s): %s",
                    code,
                    reason,
                    extra={"user_id": self.context.user_id_seen, "code": code},
                )
                await self.websocket.close(code=code, reason=reason)
                return

    async def _verify_again(self) -> int | None:
        try:
            return await self.context.verify_again()
        except Exception:
            # The database is away, say: the socket keeps what it had and asks again.
            logger.warning("could not verify a socket's credential again", exc_info=True)
            return None

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Strawberry's, in a task that shares its subscription's results, and that sees
        the caller as the credential stands now, not as it stood when the socket opened."""
        self.context.begin_operation(operation.id)  # this operation's task only
        ended = await self._verify_again() is not None
        try:
            share_results(await self._sharing_for(operation))  # this operation's task only
            await super().run_operation(operation)
        finally:
            self.context.end_operation(operation.id)
            if ended and self._wake is not None:
                self._wake.set()  # refused with its error; now the socket closes

    async def _sharing_for(self, operation: Operation[Context, None]) -> Sharing:
        try:
            caller = await self.context.caller()
        except Unauthenticated:
            caller = None  # the field's permission check says so to the client
        variables = json.dumps(operation.variables, sort_keys=True, default=str)
        role = caller.role.value if caller is not None else None
        key = (operation.query, operation.operation_name, variables, role)
        return Sharing(shared_results(self.view), key)

    async def send_message(self, message: Message) -> None:
        # Called in the operation's task, right after the executor made (or found) this
        # event's result: a `next` that is the shared result, untouched, goes out as the
        # text its first sender encoded.
        sharing = current_sharing()
        entry = sharing.last if sharing is not None else None
        if entry is not None and message["type"] == "next" and _is_plain(message, entry):
            assert sharing is not None
            sharing.last = None
            await self._send_shared(message["id"], entry)
            return
        await super().send_message(message)

    async def _send_shared(self, operation_id: str, entry: SharedResult) -> None:
        if entry.payload_text is None:
            entry.payload_text = self.view.encode_json_string({"data": entry.result.data})
        # Byte for byte what `send_next` would send, without encoding the payload again.
        frame = (
            f'{{"id":{self.view.encode_json_string(operation_id)},'
            f'"type":"next","payload":{entry.payload_text}}}'
        )
        assert isinstance(self.websocket, ASGIWebSocketAdapter)
        try:
            await self.websocket.ws.send_text(frame)
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error


def _log_failure(task: asyncio.Task[None]) -> None:
    # Retrieved here, so a watch that failed is seen (and asyncio does not warn later).
    if not task.cancelled() and task.exception() is not None:
        logger.warning("a socket's credential watch failed", exc_info=task.exception())


def _is_plain(message: Message, entry: SharedResult) -> bool:
    """The message carries the shared result, untouched: its data and nothing else (no
    errors, no extension output)."""
    payload = message.get("payload")
    return (
        isinstance(payload, dict) and len(payload) == 1 and payload.get("data") is entry.result.data
    )
