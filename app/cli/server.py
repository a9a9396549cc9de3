"""The API process, composed: the broker, the GraphQL app, and the embedded workers.

The one place that knows both graph/ and actors/ (they know nothing of each other):
`dataflow dev` and `serve` run `create_app`, so do the tests' live server and the
benchmarks (`uvicorn app.cli.server:create_app --factory`).
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import dramatiq
import redis.asyncio as aioredis

from actors import broker as broker_module
from actors.runs import enqueue_run
from app.config import get_settings
from app.observability import init_sentry
from app.scheduler import run_forever
from graph.asgi import Dispatch
from graph.asgi import create_app as create_graphql_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from dramatiq import Broker
    from starlette.applications import Starlette

    from app.config import Settings

IN_PROCESS_WORKER_THREADS = 2


def create_app(settings: Settings | None = None) -> Starlette:
    """The whole API: with the embedded broker it also works and schedules in-process."""
    settings = settings or get_settings()
    init_sentry(settings)
    workers = EmbeddedWorkers(settings, broker_module.configure(settings))
    dispatch = Dispatch(
        enqueue=enqueue_run, broker_ready=workers.broker_ready, process_work=workers.running
    )
    return create_graphql_app(settings, dispatch)


class EmbeddedWorkers:
    """Dramatiq worker threads and the scheduler inside the API process, when the broker
    is the in-memory one: then the API process is the whole system (it schedules and
    reaps too). With Redis they are separate processes and this runs nothing."""

    def __init__(self, settings: Settings, broker: Broker) -> None:
        self.settings = settings
        self.broker = broker
        self.worker: dramatiq.Worker | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        if not self.settings.embedded_broker:
            yield
            return
        worker = dramatiq.Worker(self.broker, worker_threads=IN_PROCESS_WORKER_THREADS)
        worker.start()
        self.worker = worker
        stop_scheduler = asyncio.Event()
        scheduler = asyncio.create_task(run_forever(self.settings, enqueue_run, stop_scheduler))
        try:
            yield
        finally:
            stop_scheduler.set()
            await scheduler
            worker.stop()
            self.worker = None

    async def broker_ready(self) -> bool:
        """Redis answers a ping; embedded, the in-process workers are running."""
        if self.settings.redis_url is None:
            return self.worker is not None
        client = aioredis.Redis.from_url(self.settings.redis_url, socket_connect_timeout=2)
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()
