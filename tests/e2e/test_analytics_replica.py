"""Analytics through the real server over HTTP on the production backends: PostgreSQL
warehouse and metadata, the Parquet replica read by DuckDB."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
import pytest

from app.analytics.hooks import after_successful_load
from app.models.user import Role
from tests import factories
from tests.e2e.test_analytics_embedded import (
    ANALYTICS,
    DATASETS,
    MONTHLY_BY_COUNTRY,
    assert_same,
    expected_monthly,
)
from tests.live import GraphQLClient, live_analytics_server
from tests.unit.analytics.helpers import load, make_pipeline_id, orders, spec_with_dataset

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from app.config import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def server(service_settings: Settings) -> AsyncIterator[str]:
    async with live_analytics_server(service_settings) as url:
        yield url


async def test_a_dashboard_reads_the_replica_and_sees_each_load(
    server: str, service_settings: Settings, tmp_path: Path
) -> None:
    table = factories.unique("orders")
    query = {**MONTHLY_BY_COUNTRY, "dataset": table}
    pipeline_id = await make_pipeline_id(service_settings, tmp_path)
    _, token = await factories.make_user(service_settings, Role.VIEWER)
    client = GraphQLClient(server, token)

    frames = [orders(15_000, seed=21), orders(3_000, seed=22)]
    seen: list[pl.DataFrame] = []
    for version, frame in enumerate(frames, start=1):
        await load(service_settings, table, frame, "append")
        await after_successful_load(
            service_settings,
            pipeline_id=pipeline_id,
            pipeline_name=table,
            spec=spec_with_dataset(table),
            table=table,
        )
        seen.append(frame)
        answer = (await client.data(ANALYTICS, {"query": query}))["analytics"]
        assert (answer["datasetVersion"], answer["fromCache"]) == (version, False)
        assert_same(answer["rows"], expected_monthly(pl.concat(seen)))
        repeat = (await client.data(ANALYTICS, {"query": query}))["analytics"]
        assert repeat["fromCache"] is True

    datasets = {d["name"]: d for d in (await client.data(DATASETS))["datasets"]}
    assert (datasets[table]["version"], datasets[table]["rowCount"]) == (2, 18_000)
