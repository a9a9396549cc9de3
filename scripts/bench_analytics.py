"""Benchmark analytics: ten dashboard queries over the 3.75M-row orders table, timed
through the GraphQL HTTP endpoint, as the same SQL in DuckDB directly (over the same
Parquet replica), as the same SQL in PostgreSQL, and as a cached repeat.

    uv run python scripts/bench_analytics.py --help
    uv run python scripts/bench_analytics.py --pg postgresql://postgres@127.0.0.1:5432/postgres

It keeps its own database (`dataflow_bench_analytics`, created once and reused; --fresh
starts over), loads the load benchmark's output into the PostgreSQL warehouse (5M sample
orders, filter + derive: 3.75M rows), runs the load hook (Parquet replica + stats), then
starts `dataflow serve` in a subprocess, first without and then with the result cache.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import duckdb
import httpx
import polars as pl

from app import migrate
from app.analytics import catalog
from app.analytics.compiler import POSTGRES_SQL, Relation, compile_query
from app.analytics.hooks import after_successful_load
from app.config import Settings
from app.db import dispose_engines, session_scope
from app.etl.sample import orders_frame
from app.etl.warehouse import open_warehouse
from app.models.user import Role
from app.security import create_access_token
from scripts.analytics_workload import DATASET, QUERIES, TABLE, same_rows, to_query
from scripts.bench_api import free_port, wait_ready
from scripts.machine import describe as describe_machine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from app.analytics.compiler import CompiledQuery

DATABASE = "dataflow_bench_analytics"
SECRET = "bench-analytics-secret-key-0123456789abcdef"  # noqa: S105 (the bench server's own)
ANALYTICS = """query($q: AnalyticsQueryInput!) {
  analytics(query: $q) { rows rowCount datasetVersion fromCache } }"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "DATAFLOW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="an admin URL of the PostgreSQL server (its benchmark database is made there)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--rows", type=int, default=5_000_000, help="orders before the filter")
    parser.add_argument("--repeat", type=int, default=21, help="timed runs per query and way")
    parser.add_argument("--pg-repeat", type=int, default=5, help="timed runs in PostgreSQL")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "dataflow-bench" / "analytics",
        help="DATA_DIR of the benchmark (the replica is written there)",
    )
    parser.add_argument("--fresh", action="store_true", help="drop and reload everything")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(QUERIES),
        help="time just this query (repeatable), for quick iterations",
    )
    return parser.parse_args(argv)


def database_url(admin: str) -> str:
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{DATABASE}"


async def prepare_database(admin: str, fresh: bool) -> None:
    connection = await asyncpg.connect(admin)
    try:
        if fresh:
            await connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await connection.close()


async def load_orders(settings: Settings, rows: int) -> int:
    """The load benchmark's output: filter cancelled, derive revenue; skipped when present."""
    dsn = settings.warehouse_target.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        have = 0
        if await connection.fetchval("SELECT to_regclass('warehouse.bench_orders')"):
            have = await connection.fetchval("SELECT count(*) FROM warehouse.bench_orders")
    finally:
        await connection.close()
    frame = orders_frame(rows).filter(pl.col("status") != "cancelled")
    if have == frame.height:
        return int(have)
    frame = frame.with_columns(
        revenue=pl.col("quantity") * pl.col("unit_price") * (1 - pl.col("discount"))
    )
    started = time.perf_counter()
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        load = await warehouse.begin_load(
            table=TABLE, mode="replace", run_id=f"bench-{uuid.uuid4().hex}"
        )
        for batch in frame.iter_slices(250_000):
            await load.write(batch)
        await load.commit()
    finally:
        await warehouse.close()
    print(f"loaded {frame.height:,} rows into PostgreSQL in {time.perf_counter() - started:.1f} s")
    return frame.height


async def seed_catalog(settings: Settings) -> tuple[str, str]:
    """A viewer and a pipeline row (the dataset points at it), by SQL; reused."""
    dsn = settings.metadata_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            """
            INSERT INTO users (id, email, role, is_active, password_hash, created_at)
            VALUES ('bench-viewer', 'viewer@bench.example', 'viewer', true, 'x', now())
            ON CONFLICT DO NOTHING;
            INSERT INTO sources (id, name, kind, uri, options, created_at, updated_at)
            VALUES ('bench-src', 'bench_src', 'csv', '/bench.csv', '{}', now(), now())
            ON CONFLICT DO NOTHING;
            INSERT INTO pipelines (id, name, source_id, spec, version, created_at, updated_at)
            VALUES ('bench-pipe', 'bench_pipe', 'bench-src', '{}', 1, now(), now())
            ON CONFLICT DO NOTHING;
            """
        )
    finally:
        await connection.close()
    token = create_access_token(user_id="bench-viewer", role=Role.VIEWER, settings=settings)
    return "bench-pipe", token


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def clock(action: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await action()
    return time.perf_counter() - started, result


class Client:
    """GraphQL over one keep-alive HTTP connection, as a dashboard's backend would."""

    def __init__(self, base: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.http = httpx.AsyncClient(base_url=base, headers=headers, timeout=120)

    async def rows(self, query: dict[str, Any]) -> list[list[Any]]:
        variables = {"q": {"dataset": TABLE, **query}}
        response = await self.http.post(
            "/graphql", json={"query": ANALYTICS, "variables": variables}
        )
        body: dict[str, Any] = response.json()
        if "errors" in body:
            raise SystemExit(f"GraphQL error: {body['errors']}")
        rows: list[list[Any]] = body["data"]["analytics"]["rows"]
        return rows

    async def me(self) -> None:
        response = await self.http.post("/graphql", json={"query": "{ me { email } }"})
        if "errors" in response.json():
            raise SystemExit(f"GraphQL error: {response.json()}")


async def interleaved(
    client: Client,
    duck: dict[str, CompiledQuery],
    pg: dict[str, CompiledQuery],
    pg_url: str,
    args: argparse.Namespace,
) -> dict[str, dict[str, list[float]]]:
    """Per query, rounds of: direct DuckDB, GraphQL (no cache), PostgreSQL. Interleaving
    spreads whatever else the machine is doing over the three alike."""
    connection = duckdb.connect(":memory:")
    connection.execute("SET GLOBAL parquet_metadata_cache = true")  # as the server does
    postgres = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    times: dict[str, dict[str, list[float]]] = {}
    try:
        for name, query in QUERIES.items():
            statement, in_pg = duck[name], pg[name]

            def direct(s: CompiledQuery = statement) -> list[tuple[Any, ...]]:
                return connection.execute(s.sql, list(s.params)).fetchall()

            expected = [[_plain(v) for v in row] for row in await asyncio.to_thread(direct)]
            if not same_rows(await client.rows(query), expected):
                raise SystemExit(f"{name}: the server's rows differ from DuckDB's")
            in_postgres = [
                [_plain(v) for v in row] for row in await postgres.fetch(in_pg.sql, *in_pg.params)
            ]
            if not same_rows(in_postgres, expected):
                raise SystemExit(f"{name}: PostgreSQL's rows differ from DuckDB's")
            ways: dict[str, list[float]] = {"duckdb": [], "graphql": [], "postgres": []}
            for round_ in range(args.repeat):
                ways["duckdb"].append((await clock(lambda d=direct: asyncio.to_thread(d)))[0])  # type: ignore[misc]
                ways["graphql"].append((await clock(lambda q=query: client.rows(q)))[0])  # type: ignore[misc]
                if round_ < args.pg_repeat:
                    fetch = postgres.fetch(in_pg.sql, *in_pg.params)
                    ways["postgres"].append((await clock(lambda f=fetch: f))[0])  # type: ignore[misc]
            times[name] = ways
            print(f"  {name}: {len(expected)} rows", flush=True)
    finally:
        connection.close()
        await postgres.close()
    return times


async def cached(client: Client, repeat: int) -> tuple[dict[str, list[float]], list[float]]:
    """Repeats answered from the cache (after one warm-up), and a bare `me` for scale."""
    times = {}
    for name, query in QUERIES.items():
        await client.rows(query)
        times[name] = [(await clock(lambda q=query: client.rows(q)))[0] for _ in range(repeat)]  # type: ignore[misc]
    baseline = [(await clock(client.me))[0] for _ in range(repeat)]
    return times, baseline


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value.isoformat() if hasattr(value, "isoformat") else value


def serve(settings: Settings, args: argparse.Namespace, cache_bytes: int) -> tuple[Any, str]:
    """The API as `dataflow serve` runs it (one uvicorn process), on a free port."""
    assert settings.database_url
    env = {
        **os.environ,
        "ENV": "dev",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": args.redis_url,
        "DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": SECRET,
        "LOG_LEVEL": "WARNING",
        "ANALYTICS_CACHE_BYTES": str(cache_bytes),
    }
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "app.cli.server:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}"


@asynccontextmanager
async def server(
    settings: Settings, args: argparse.Namespace, cache_bytes: int, token: str
) -> AsyncIterator[Client]:
    process, base = serve(settings, args, cache_bytes)
    client = Client(base, token)
    try:
        await wait_ready(base)
        yield client
    finally:
        await client.http.aclose()
        process.terminate()
        process.wait(timeout=30)


async def main_async(args: argparse.Namespace) -> None:
    await prepare_database(args.pg, args.fresh)
    url = database_url(args.pg)
    await asyncio.to_thread(migrate.upgrade, url)  # Alembic runs its own event loop
    settings = Settings(database_url=url, data_dir=args.data_dir.resolve(), secret_key=SECRET)
    rows = await load_orders(settings, args.rows)
    pipeline_id, token = await seed_catalog(settings)
    started = time.perf_counter()
    await after_successful_load(
        settings,
        pipeline_id=pipeline_id,
        pipeline_name="bench",
        spec={"dataset": DATASET},
        table=TABLE,
    )
    hook_seconds = time.perf_counter() - started
    print(f"{rows:,} rows; the load hook (Parquet replica + stats) took {hook_seconds:.2f} s")
    async with session_scope(settings) as session:
        dataset = await catalog.get(session=session, name=TABLE)
    await dispose_engines()
    assert dataset.replica_uri
    if args.only:
        for name in set(QUERIES) - set(args.only):
            del QUERIES[name]
    queries = {name: to_query(raw) for name, raw in QUERIES.items()}
    replica, in_pg = Relation(parquet=dataset.replica_uri), Relation(table=("warehouse", TABLE))
    duck = {n: compile_query(q, dataset, relation=replica) for n, q in queries.items()}
    pg = {
        n: compile_query(q, dataset, relation=in_pg, target=POSTGRES_SQL)
        for n, q in queries.items()
    }
    async with server(settings, args, 0, token) as client:
        times = await interleaved(client, duck, pg, url, args)
    async with server(settings, args, 256 * 2**20, token) as client:
        repeats, baseline = await cached(client, args.repeat)
    report(times, repeats, baseline)


def report(
    times: dict[str, dict[str, list[float]]], repeats: dict[str, list[float]], baseline: list[float]
) -> None:
    print(
        f"{'query':<30}{'duckdb':>9}{'graphql':>9}{'goal':>8}"
        f"{'postgres':>10}{'vs pg':>8}{'cached':>8}   (p50, ms)"
    )
    met = {"graphql": 0, "postgres": 0, "cached": 0}
    for name, ways in times.items():
        d, g, p = p50(ways["duckdb"]), p50(ways["graphql"]), p50(ways["postgres"])
        c, goal = p50(repeats[name]), 1.3 * p50(ways["duckdb"]) + 5
        met["graphql"] += g <= goal
        met["postgres"] += p >= 4 * g
        met["cached"] += c <= 5
        print(f"{name:<30}{d:>9.1f}{g:>9.1f}{goal:>8.1f}{p:>10.1f}{p / g:>7.1f}x{c:>8.1f}")
    total = len(times)
    print(f"a bare authenticated query, {{ me {{ email }} }}: {p50(baseline):.1f} ms")
    print(describe_machine())
    print(
        f"goals met: GraphQL <= 1.3x DuckDB + 5 ms: {met['graphql']}/{total}; "
        f">= 4x faster than PostgreSQL: {met['postgres']}/{total}; "
        f"cached <= 5 ms: {met['cached']}/{total}"
    )


def main(argv: list[str] | None = None) -> None:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
