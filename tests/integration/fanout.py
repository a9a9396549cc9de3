"""Helpers for the fan-out tests: a run whose events the test publishes as a worker does,
and raw graphql-transport-ws subscribers that keep every frame exactly as sent."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import redis
import redis.asyncio as aioredis
import websockets

from app.db import session_scope
from app.event_types import Event, EventKind, Progress, RunFinished, Stage
from app.events import CHANNEL_PREFIX, publish_changes, run_events_channel
from app.models.run import Run, RunStatus
from app.services import run_events as event_service
from tests import factories

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from pathlib import Path

    from app.config import Settings

EVENTS = """subscription($runId: ID!) { runEvents(runId: $runId) { id kind stage payload } }"""


async def make_running_run(settings: Settings, tmp_path: Path) -> str:
    source = await factories.make_source(
        settings, factories.write_csv(tmp_path, factories.orders_rows(1))
    )
    pipeline = await factories.make_pipeline(
        settings, source, factories.orders_spec(factories.unique("fan"))
    )
    async with session_scope(settings) as session:
        run = Run(pipeline_id=pipeline.id, pipeline_version=1, status=RunStatus.RUNNING)
        session.add(run)
    return run.id


async def emit(settings: Settings, run_id: str, kind: str = "progress", n: int = 0) -> int:
    """Store an event and publish it after the commit, as a worker does; its id. A
    progress event carries `n` as its rows read."""
    event: Event = (
        RunFinished(status="succeeded")
        if kind == EventKind.RUN_FINISHED
        else Progress(stage=Stage.LOAD, rows_read=n, rows_rejected=0)
    )
    async with session_scope(settings) as session:
        stored = await event_service.append(session=session, run_id=run_id, event=event)
    await publish_changes(settings, None, [stored])
    assert stored.event.id is not None
    return stored.event.id


async def stored_ids(settings: Settings, run_id: str) -> list[str]:
    async with session_scope(settings) as session:
        events = await event_service.list_after(session=session, run_id=run_id)
    return [str(event.id) for event in events]


async def redis_subscribers(redis_url: str, run_id: str) -> int:
    """How many Redis connections listen to the run's channel (of any process)."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        reply = await client.pubsub_numsub(CHANNEL_PREFIX + run_events_channel(run_id))
    finally:
        await client.aclose()
    return int(reply[0][1])


async def eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 30) -> None:
    """Wait for a state reached asynchronously (a generous deadline, not a timing test)."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        await asyncio.sleep(0.05)


@dataclass(eq=False)
class Watcher:
    """One subscriber on its own WebSocket, keeping each text frame as received."""

    base_url: str
    token: str
    variables: dict[str, Any]
    query: str = EVENTS
    frames: list[str] = field(default_factory=list)
    first: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self) -> Watcher:
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        url = self.base_url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}}
            await ws.send(json.dumps(init))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            payload = {"query": self.query, "variables": self.variables}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            while True:
                text = await ws.recv()
                assert isinstance(text, str)
                frame = json.loads(text)
                if frame["type"] == "complete":
                    return
                self.frames.append(text)
                self.first.set()
                if frame["type"] == "error":
                    return

    async def finished(self, seconds: float = 60) -> None:
        assert self.task is not None
        await asyncio.wait_for(self.task, seconds)

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def events(self) -> list[dict[str, Any]]:
        frames = [json.loads(text) for text in self.frames]
        for frame in frames:
            assert frame["type"] == "next", frame
            assert "errors" not in frame["payload"], frame
        return [frame["payload"]["data"]["runEvents"] for frame in frames]

    def ids(self) -> list[str]:
        return [event["id"] for event in self.events()]


@dataclass
class OwnRedis:
    """A Redis server of the test's own, to stop and start without disturbing others."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@contextmanager
def own_redis() -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed here; this test restarts its own Redis")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = OwnRedis(port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
