"""The ASGI app: Starlette routes /graphql, /healthz, /readyz, and the worker lifecycle."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import dramatiq
import orjson
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from actors import broker as broker_module
from actors.runs import enqueue_run
from app.analytics.service import close_services as close_analytics
from app.config import Environment, Settings, get_settings
from app.db import dispose_engines, ping
from app.errors import Unauthenticated
from app.events import close_event_buses
from app.observability import init_sentry
from app.ratelimit import login_limiter
from app.scheduler import run_forever
from graph.context import Context
from graph.graphiql import OfflineGraphiQL, asset_routes
from graph.http import GraphQLOverHTTP
from graph.schema import build_schema
from graph.ws import SharedResultsTransportWSHandler

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
    from starlette.websockets import WebSocket

logger = logging.getLogger(__name__)

IN_PROCESS_WORKER_THREADS = 2
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)


class DataFlowGraphQL(OfflineGraphiQL, GraphQLOverHTTP):
    # Subscribers of the same run asking the same thing share each event's result.
    graphql_transport_ws_handler_class = SharedResultsTransportWSHandler

    def __init__(self, settings: Settings) -> None:
        dev = settings.env is Environment.DEV
        super().__init__(
            build_schema(introspection=dev),
            graphql_ide="graphiql" if dev else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
        )
        self.settings = settings

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
        return Context(settings=self.settings, request=request, response=response)

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


async def _broker_ready(settings: Settings, worker: dramatiq.Worker | None) -> bool:
    if settings.redis_url is None:
        return worker is not None
    client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=2)
    try:
        return bool(await client.ping())
    finally:
        await client.aclose()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    init_sentry(settings)
    broker = broker_module.configure(settings)
    state: dict[str, Any] = {"worker": None}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.login_limiter = login_limiter(settings)
        # Everything loaded so far (the schema, the libraries) lives as long as the
        # process: moved out of the collector's sight, a full collection no longer walks
        # it, which was a pause of tens of milliseconds in the middle of requests.
        gc.collect()
        gc.freeze()
        stop_scheduler = asyncio.Event()
        scheduler = None
        if settings.embedded_broker:
            worker = dramatiq.Worker(broker, worker_threads=IN_PROCESS_WORKER_THREADS)
            worker.start()
            state["worker"] = worker
            # Embedded, the API process is the whole system: it schedules and reaps too.
            scheduler = asyncio.create_task(run_forever(settings, enqueue_run, stop_scheduler))
        try:
            yield
        finally:
            stop_scheduler.set()
            if scheduler is not None:
                await scheduler
            if state["worker"] is not None:
                state["worker"].stop()
                state["worker"] = None
            await app.state.login_limiter.close()
            await close_analytics()
            await close_event_buses()
            await dispose_engines()

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            await ping(settings)
            checks["metadata"] = "ok"
        except Exception as error:
            checks["metadata"] = f"unreachable: {type(error).__name__}"
        try:
            ok = await _broker_ready(settings, state["worker"])
            checks["broker"] = "ok" if ok else "no worker running"
        except Exception as error:
            checks["broker"] = f"unreachable: {type(error).__name__}"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    graphql = DataFlowGraphQL(settings)
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *(asset_routes() if settings.env is Environment.DEV else []),  # GraphiQL's
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["authorization", "content-type", "x-request-id"],
                expose_headers=["x-request-id", "server-timing"],
            ),
        ],
        lifespan=lifespan,
    )
