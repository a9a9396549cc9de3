"""The ASGI app: Starlette routes /graphql, /healthz, /readyz, around the GraphQL schema.

It knows no broker, worker or scheduler: the process that serves it hands those in as a
`Dispatch` (app/cli/server.py composes the whole API process).
"""

from __future__ import annotations

import gc
import logging
import time
import uuid
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from app.analytics.service import close_services as close_analytics
from app.config import Environment, Settings
from app.db import dispose_engines, ping
from app.errors import Unauthenticated
from app.events import close_event_buses
from app.ratelimit import login_limiter
from graph.context import Context
from graph.graphiql import OfflineGraphiQL, asset_routes
from graph.http import GraphQLOverHTTP
from graph.schema import build_schema
from graph.ws import SharedResultsTransportWSHandler

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
    from starlette.websockets import WebSocket

    from app.runner import Enqueue

logger = logging.getLogger(__name__)

CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)


class DataFlowGraphQL(OfflineGraphiQL, GraphQLOverHTTP):
    # Subscribers of the same run asking the same thing share each event's result.
    graphql_transport_ws_handler_class = SharedResultsTransportWSHandler

    def __init__(self, settings: Settings, enqueue: Enqueue) -> None:
        dev = settings.env is Environment.DEV
        super().__init__(
            build_schema(introspection=dev),
            graphql_ide="graphiql" if dev else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
        )
        self.settings = settings
        self.enqueue = enqueue

    def encode_json(self, data: object) -> str | bytes:
        # orjson: a runs page encodes ~5x faster than with json.dumps. It refuses what
        # JSON scalars may rarely hold (integers past 64 bits): those take the slow path.
        # Text, not bytes: over a WebSocket bytes would go out as binary frames.
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return super().encode_json(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            settings=self.settings, enqueue=self.enqueue, request=request, response=response
        )

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        # Bad credentials close the socket (4403); none at all leave it anonymous,
        # and each subscription then asks for the role it needs.
        try:
            await context.user()
        except Unauthenticated as error:
            raise ConnectionRejectionError(
                {"code": "UNAUTHENTICATED", "message": error.message}
            ) from None
        return None


class RequestIdMiddleware:
    """Every HTTP response carries X-Request-ID and Server-Timing; logs carry the id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode()[:64]
        request_id = incoming or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"server-timing", f"app;dur={elapsed:.1f}".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _no_process_work() -> AbstractAsyncContextManager[None]:
    return nullcontext()


@dataclass(frozen=True)
class Dispatch:
    """How runs leave the API, given by the process that serves it."""

    enqueue: Enqueue  # hands a committed run to a worker
    broker_ready: Callable[[], Awaitable[bool]]  # /readyz: can runs be handed over now?
    # What the process runs beside the app for its lifetime (embedded: the workers and
    # the scheduler), entered after the app's own resources and left before them.
    process_work: Callable[[], AbstractAsyncContextManager[None]] = _no_process_work


def create_app(settings: Settings, dispatch: Dispatch) -> Starlette:
    graphql = DataFlowGraphQL(settings, dispatch.enqueue)
    return Starlette(
        routes=[
            *_probe_routes(settings, dispatch),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *(asset_routes() if settings.env is Environment.DEV else []),  # GraphiQL's
        ],
        middleware=_middleware(settings),
        lifespan=_lifespan(settings, dispatch),
    )


def _lifespan(
    settings: Settings, dispatch: Dispatch
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.login_limiter = login_limiter(settings)
        # Everything loaded so far (the schema, the libraries) lives as long as the
        # process: moved out of the collector's sight, a full collection no longer walks
        # it, which was a pause of tens of milliseconds in the middle of requests.
        gc.collect()
        gc.freeze()
        try:
            async with dispatch.process_work():
                yield
        finally:
            await app.state.login_limiter.close()
            await close_analytics()
            await close_event_buses()
            await dispose_engines()

    return lifespan


def _probe_routes(settings: Settings, dispatch: Dispatch) -> list[BaseRoute]:
    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> JSONResponse:
        checks = {
            "metadata": await _check(partial(_metadata_reachable, settings), "unreachable"),
            "broker": await _check(dispatch.broker_ready, "no worker running"),
        }
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    return [Route("/healthz", healthz), Route("/readyz", readyz)]


async def _metadata_reachable(settings: Settings) -> bool:
    await ping(settings)
    return True


async def _check(probe: Callable[[], Awaitable[bool]], when_false: str) -> str:
    """ "ok", `when_false`, or why the probe could not reach its backend."""
    try:
        return "ok" if await probe() else when_false
    except Exception as error:
        return f"unreachable: {type(error).__name__}"


def _middleware(settings: Settings) -> list[Middleware]:
    return [
        Middleware(RequestIdMiddleware),
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type", "x-request-id"],
            expose_headers=["x-request-id", "server-timing"],
        ),
    ]
