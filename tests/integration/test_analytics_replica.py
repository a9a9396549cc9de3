"""The production path: PostgreSQL warehouse -> Parquet replica (local or S3) -> DuckDB."""

from __future__ import annotations

import socket
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import boto3  # type: ignore[import-untyped]
import polars as pl
import pytest
from moto.server import ThreadedMotoServer

from app.analytics import service
from app.analytics.compiler import POSTGRES_SQL, Relation, compile_query
from app.analytics.hooks import after_successful_load
from app.analytics.query import Condition, Granularity, Operator, OrderBy, Query, TimeDimension
from tests import factories
from tests.unit.analytics.helpers import load, make_pipeline_id, orders, spec_with_dataset

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from app.config import Settings

pytestmark = pytest.mark.integration
BUCKET = "analytics-replica"


@pytest.fixture(autouse=True)
async def _fresh_analytics() -> AsyncIterator[None]:
    yield
    await service.close_services()


def weekly_query(table: str) -> Query:
    return Query(
        dataset=table,
        measures=("revenue", "orders", "customers"),
        dimensions=("channel",),
        time_dimension=TimeDimension("order_ts", Granularity.WEEK),
        filters=(Condition("country", Operator.IN, ("DE", "FR", "IT")),),
        order=(OrderBy("order_ts"), OrderBy("channel")),
        timezone="Europe/Berlin",
    )


def expected_weekly(frame: pl.DataFrame) -> list[list[Any]]:
    ts = pl.col("order_ts")
    if frame.schema["order_ts"] == pl.Datetime("us"):
        ts = ts.dt.replace_time_zone("UTC")
    local = ts.dt.convert_time_zone("Europe/Berlin").dt.replace_time_zone(None)
    grouped = (
        frame.filter(pl.col("country").is_in(["DE", "FR", "IT"]))
        .group_by(local.dt.truncate("1w").alias("week"), "channel")
        .agg(
            pl.col("revenue").sum(),
            pl.len().alias("orders"),
            pl.col("customer_id").n_unique().alias("customers"),
        )
        .sort("week", "channel")
    )
    return [[w.isoformat(), c, r, n, k] for w, c, r, n, k in grouped.rows()]


def assert_same(got: list[list[Any]], expected: list[list[Any]]) -> None:
    assert [row[:2] + row[3:] for row in got] == [row[:2] + row[3:] for row in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine[2] == pytest.approx(theirs[2], rel=1e-9)


async def load_and_hook(
    settings: Settings, pipeline_id: str, table: str, frame: pl.DataFrame
) -> None:
    await load(settings, table, frame)
    await after_successful_load(
        settings,
        pipeline_id=pipeline_id,
        pipeline_name=table,
        spec=spec_with_dataset(table),
        table=table,
    )


def exists(path: str) -> bool:
    return Path(path).exists()


async def replica_of(settings: Settings, table: str) -> str:
    (dataset,) = [
        d for d in await service.list_datasets(settings=settings, scope=()) if d.name == table
    ]
    assert dataset.replica_uri is not None
    return dataset.replica_uri


async def test_queries_read_the_parquet_replica_of_each_load(
    service_settings: Settings, tmp_path: Path
) -> None:
    pipeline_id = await make_pipeline_id(service_settings, tmp_path)
    table = factories.unique("orders")
    first = orders(30_000, seed=8)
    await load_and_hook(service_settings, pipeline_id, table, first)
    replica = await replica_of(service_settings, table)
    assert replica.startswith(str(service_settings.data_dir.resolve() / "replica" / table))
    assert pl.read_parquet(replica).height == 30_000

    answer = await service.run_query(settings=service_settings, query=weekly_query(table), scope=())
    assert answer.dataset_version == 1
    assert_same(answer.rows, expected_weekly(first))
    assert (
        await service.run_query(settings=service_settings, query=weekly_query(table), scope=())
    ).from_cache

    # Each load writes a new file; the one before the previous is deleted.
    uris = [replica]
    for seed in (9, 10):
        await load_and_hook(service_settings, pipeline_id, table, orders(1_000, seed=seed))
        uris.append(await replica_of(service_settings, table))
    assert [exists(uri) for uri in uris] == [False, True, True]
    latest = await service.run_query(settings=service_settings, query=weekly_query(table), scope=())
    assert (latest.dataset_version, latest.from_cache) == (3, False)
    assert_same(latest.rows, expected_weekly(orders(1_000, seed=10)))


async def test_zoned_timestamps_from_postgres_bucket_in_the_query_zone(
    service_settings: Settings, tmp_path: Path
) -> None:
    pipeline_id = await make_pipeline_id(service_settings, tmp_path)
    table = factories.unique("zoned")
    frame = orders(5_000, seed=11).with_columns(pl.col("order_ts").dt.replace_time_zone("UTC"))
    await load_and_hook(service_settings, pipeline_id, table, frame)
    answer = await service.run_query(settings=service_settings, query=weekly_query(table), scope=())
    assert_same(answer.rows, expected_weekly(frame))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_settings(
    service_settings: Settings, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Settings, Any]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(name, value)  # for boto3 here
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    settings = service_settings.model_copy(
        update={
            "s3_bucket": BUCKET,
            "s3_endpoint_url": s3_endpoint,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "aws_region": "us-east-1",
        }
    )
    yield settings, client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


async def test_the_replica_on_s3_is_written_and_read_through_httpfs(
    s3_settings: tuple[Settings, Any], tmp_path: Path
) -> None:
    settings, client = s3_settings
    pipeline_id = await make_pipeline_id(settings, tmp_path)
    table = factories.unique("orders")
    frames = [orders(4_000, seed=seed) for seed in (12, 13, 14)]
    uris = []
    for frame in frames:
        await load_and_hook(settings, pipeline_id, table, frame)
        uris.append(await replica_of(settings, table))
        answer = await service.run_query(settings=settings, query=weekly_query(table), scope=())
        assert_same(answer.rows, expected_weekly(frame))
    assert all(uri.startswith(f"s3://{BUCKET}/replica/{table}/") for uri in uris)
    keys = {item["Key"] for item in client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {uri.removeprefix(f"s3://{BUCKET}/") for uri in uris[1:]}


async def test_postgres_answers_the_same_aggregates_as_duckdb(
    service_settings: Settings, tmp_path: Path
) -> None:
    """The benchmark's comparison is fair: the statements mean the same in both."""
    pipeline_id = await make_pipeline_id(service_settings, tmp_path)
    table = factories.unique("orders")
    await load_and_hook(service_settings, pipeline_id, table, orders(3_000, seed=15))
    (dataset,) = [
        d
        for d in await service.list_datasets(settings=service_settings, scope=())
        if d.name == table
    ]
    queries = [
        weekly_query(table),
        Query(
            dataset=table,
            measures=("revenue", "avg_quantity"),
            dimensions=("category",),
            time_dimension=TimeDimension("order_ts", Granularity.MONTH),
            filters=(
                Condition("category", Operator.CONTAINS, ("o", "_%")),
                Condition("status", Operator.NOT_EQUALS, ("cancelled",)),
            ),
            timezone="America/New_York",
        ),
        Query(
            dataset=table,
            measures=("orders",),
            time_dimension=TimeDimension("order_ts", Granularity.DAY),
            filters=(Condition("orders", Operator.GT, (5,)),),
            timezone="Asia/Kolkata",
        ),
    ]
    dsn = service_settings.warehouse_target.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        for query in queries:
            duck = await service.run_query(settings=service_settings, query=query, scope=())
            compiled = compile_query(
                query, dataset, relation=Relation(table=("warehouse", table)), target=POSTGRES_SQL
            )
            rows = await connection.fetch(compiled.sql, *compiled.params)
            in_pg = [
                [
                    v.isoformat()
                    if isinstance(v, datetime)
                    else (float(v) if isinstance(v, Decimal) else v)
                    for v in row
                ]
                for row in rows
            ]
            assert len(in_pg) == len(duck.rows)
            for mine, theirs in zip(duck.rows, in_pg, strict=True):
                for a, b in zip(mine, theirs, strict=True):
                    assert a == (pytest.approx(b, rel=1e-9) if isinstance(b, float) else b)
    finally:
        await connection.close()
