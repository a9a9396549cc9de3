"""Benchmark the GraphQL API: a nested runs page under load, as history grows, and the
fan-out of one run event to many WebSocket subscribers.

    uv run python scripts/bench_api.py --help
    uv run python scripts/bench_api.py --pg postgresql://postgres@127.0.0.1:5432/postgres

It creates (and drops) its own database, starts `dataflow serve` (one uvicorn worker) in
a subprocess against it, and drives it from this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app import migrate
from app.config import Settings
from app.models.user import Role
from app.security import create_access_token
from scripts.machine import describe as describe_machine
from scripts.ws_subscriber import RawSubscriber

RUNS_QUERY = """query { runs(first: 50) { edges { cursor node { id status rowsWritten
  pipeline { id name source { id name } } } } pageInfo { hasNextPage endCursor } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed(url: str, runs: int, pipelines: int = 100) -> None:
    """Catalog rows plus `runs` runs spread over `pipelines` pipelines, in bulk SQL."""
    connection = await asyncpg.connect(url)
    try:
        have = await connection.fetchval("SELECT count(*) FROM runs")
        if have == 0:
            await connection.execute(
                """
                INSERT INTO users (id, email, role, is_active, password_hash, created_at)
                VALUES ('bench-user', 'bench@example.com', 'viewer', true, 'x', now());
                INSERT INTO sources (id, name, kind, uri, options, created_at, updated_at)
                SELECT 'src-' || i, 'source_' || i, 'csv', '/data/' || i || '.csv', '{}',
                       now(), now() FROM generate_series(1, 10) i;
                """
            )
            await connection.execute(
                """
                INSERT INTO pipelines (id, name, source_id, spec, version, created_at, updated_at)
                SELECT 'pipe-' || i, 'pipeline_' || i, 'src-' || (i % 10 + 1), '{}', 1, now(),
                       now() FROM generate_series(1, $1) i
                """,
                pipelines,
            )
        await connection.execute(
            """
            INSERT INTO runs (id, pipeline_id, pipeline_version, status, attempt, rows_read,
                              rows_written, rows_rejected, rows_filtered, params, created_at)
            SELECT md5(random()::text || i), 'pipe-' || (i % $2 + 1), 1, 'succeeded', 1,
                   1000, 900, 0, 100, '{}',
                   now() - make_interval(secs => i)
            FROM generate_series($3 + 1, $1) i
            """,
            runs,
            pipelines,
            have,
        )
        await connection.execute("ANALYZE runs")
    finally:
        await connection.close()


def start_api(database_url: str, redis_url: str, secret: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ENV": "dev",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secret,
        "LOG_LEVEL": "WARNING",
    }
    executable = str(Path(sys.executable).parent / "dataflow")
    return subprocess.Popen(
        [executable, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(300):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the API did not start")


def _runs_request(base: str, token: str) -> bytes:
    host = base.removeprefix("http://")
    body = json.dumps({"query": RUNS_QUERY}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def check_runs_page(status: bytes, body: bytes, *, parse: bool) -> None:
    """Every answer must be a full page; every 50th is parsed in full."""
    if status != b"200" or b'"errors"' in body or body.count(b'"cursor"') != 50:
        raise SystemExit(f"bad answer ({status.decode()}): {body[:300]!r}")
    if parse:
        edges = json.loads(body)["data"]["runs"]["edges"]
        if len(edges) != 50 or not all(edge["node"]["pipeline"]["source"] for edge in edges):
            raise SystemExit(f"bad answer: {body[:300]!r}")


async def load(base: str, token: str, seconds: float, concurrency: int) -> dict[str, float]:
    """Closed-loop load: `concurrency` keep-alive connections send the runs query back to
    back. The client is a few lines of asyncio, not httpx: it shares the 2 cores with the
    server, and httpx's own CPU per request was a large part of what this measured."""
    request = _runs_request(base, token)
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                if length is None:
                    raise SystemExit(f"no content-length in {head!r}")
                body = await reader.readexactly(int(length.group(1)))
                latencies.append(time.perf_counter() - started)
                check_runs_page(head[9:12], body, parse=len(latencies) % 50 == 0)
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux), or None where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


FANOUT_QUERY = "subscription($r: ID!) { runEvents(runId: $r) { id kind payload } }"


class Deliveries:
    """What the subscribers received: the first event is a barrier (every subscriber has
    it before measuring starts, so no measured event waits behind a subscription still
    being set up); each later one's publish → receipt latency is kept."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.subscribed, self.warmed = asyncio.Event(), asyncio.Event()
        self._counts = {"subscribed": 0, "warmed": 0}
        self.sent_at: dict[int, float] = {}  # event number -> when it was sent (this process)

    def _arrived(self, name: str, event: asyncio.Event) -> None:
        self._counts[name] += 1
        if self._counts[name] == self.subscribers:
            event.set()

    def delivered(self, payload: dict[str, Any]) -> None:
        # A progress event numbered by its `batches` count; -1 is the barrier.
        if payload["batches"] < 0:
            self._arrived("warmed", self.warmed)
        else:
            self.latencies.append(time.time() - self.sent_at[payload["batches"]])

    def on_ack(self) -> None:
        self._arrived("subscribed", self.subscribed)

    def summary(self, events: int, cpu_ms: float | None) -> dict[str, object]:
        latencies = sorted(self.latencies)
        return {
            "subscribers": self.subscribers,
            "deliveries": len(latencies),
            "errors": len(self.errors),
            "first_error": self.errors[0] if self.errors else None,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "api_cpu_ms_per_event": None if cpu_ms is None else round(cpu_ms / events, 1),
        }


async def _running_run(settings: Settings) -> str:
    from app.db import session_scope
    from app.models.run import Run, RunStatus

    async with session_scope(settings) as session:
        run = Run(pipeline_id="pipe-1", pipeline_version=1, status=RunStatus.RUNNING)
        session.add(run)
    return run.id


async def _publish(settings: Settings, run_id: str, index: int, deliveries: Deliveries) -> None:
    """Store and publish one load progress event, as a worker does, numbered by `batches`."""
    from app.db import session_scope
    from app.event_types import Progress, Stage
    from app.events import publish_changes
    from app.services import run_events as event_service

    event = Progress(stage=Stage.LOAD, rows_read=0, rows_rejected=0, batches=index)
    deliveries.sent_at[index] = time.time()
    async with session_scope(settings) as session:
        stored = await event_service.append(session=session, run_id=run_id, event=event)
    await publish_changes(settings, None, [stored])


async def _subscribe_all(
    base: str, token: str, run_id: str, events: int, deliveries: Deliveries
) -> list[RawSubscriber]:
    host, port = base.removeprefix("http://").split(":")
    subscribe = {"query": FANOUT_QUERY, "variables": {"r": run_id}}
    loop = asyncio.get_running_loop()
    protocols: list[RawSubscriber] = []
    for _ in range(deliveries.subscribers):
        _, protocol = await loop.create_connection(
            lambda: RawSubscriber(
                host,
                token,
                subscribe,
                events + 1,
                deliveries.delivered,
                deliveries.errors,
                deliveries.on_ack,
            ),
            host,
            int(port),
        )
        protocols.append(protocol)
    return protocols


async def fanout(
    base: str,
    token: str,
    database_url: str,
    redis_url: str,
    subscribers: int,
    events: int,
    server_pid: int,
) -> dict[str, object]:
    """Publish run events as a worker does; measure publish → receipt for each subscriber.

    The API's CPU time per event is reported too: unlike latency on a shared machine, it
    hardly depends on what else runs there."""
    settings = Settings(database_url=database_url, redis_url=redis_url)
    run_id = await _running_run(settings)
    deliveries = Deliveries(subscribers)
    protocols = await _subscribe_all(base, token, run_id, events, deliveries)
    await asyncio.wait_for(deliveries.subscribed.wait(), 120)
    await _publish(settings, run_id, -1, deliveries)
    await asyncio.wait_for(deliveries.warmed.wait(), 120)
    cpu_before = cpu_seconds(server_pid)
    for index in range(events):
        await _publish(settings, run_id, index, deliveries)
        await asyncio.sleep(0.2)
    await asyncio.wait_for(asyncio.gather(*(p.done.wait() for p in protocols)), 120)
    cpu_after = cpu_seconds(server_pid)
    cpu_ms = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) * 1000
    return deliveries.summary(events, cpu_ms)


async def runs_page(base: str, token: str, database_url: str, args: argparse.Namespace) -> None:
    """The runs page under load, at `args.runs` runs stored and (with --grow) after."""
    await load(base, token, 3, args.concurrency)  # warm-up
    small = await load(base, token, args.seconds, args.concurrency)
    print(f"runs(first: 50) nested, {args.runs:,} runs stored: {small}", flush=True)
    if not args.grow:
        return
    await seed(database_url, args.grow)
    await load(base, token, 3, args.concurrency)
    grown = await load(base, token, args.seconds, args.concurrency)
    print(f"runs(first: 50) nested, {args.grow:,} runs stored: {grown}", flush=True)
    print(
        f"p50 ratio {args.grow:,} / {args.runs:,}: {grown['p50_ms'] / small['p50_ms']:.2f}x",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    print(describe_machine(), flush=True)
    name = f"dataflow_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.pg)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base_url = args.pg.rsplit("/", 1)[0]
    database_url = f"{base_url.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    secret = uuid.uuid4().hex * 2
    port = free_port()
    api = None
    try:
        await asyncio.to_thread(migrate.upgrade, database_url)  # Alembic runs its own loop
        settings = Settings(secret_key=secret, access_token_minutes=600)
        token = create_access_token(user_id="bench-user", role=Role.VIEWER, settings=settings)
        await seed(f"{base_url}/{name}", args.runs)
        api = start_api(database_url, args.redis, secret, port)
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base)
        await runs_page(base, token, f"{base_url}/{name}", args)
        if args.subscribers:
            spread = await fanout(
                base, token, database_url, args.redis, args.subscribers, args.events, api.pid
            )
            print(f"event fan-out: {spread}", flush=True)
        print(describe_machine(), flush=True)
    finally:
        if api is not None:
            api.terminate()
            api.wait(30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server URL (an admin database on it)",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--runs", type=int, default=10_000, help="runs stored at first")
    parser.add_argument(
        "--grow",
        type=int,
        default=1_000_000,
        help="then grow history to this many runs (0 to skip)",
    )
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--subscribers", type=int, default=500, help="WebSocket subscribers (0 to skip)"
    )
    parser.add_argument("--events", type=int, default=20)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
