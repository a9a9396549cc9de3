"""Analytics through the real server over HTTP on the embedded backends (DuckDB file)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from app.models.user import Role
from tests import factories
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_analytics_server
from tests.unit.analytics.helpers import (
    load_orders,
    make_pipeline_id,
    orders,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from app.config import Settings

DATASETS = """
query { datasets { name version rowCount members { name kind type aggregation } } }"""

ANALYTICS = """
query($query: AnalyticsQueryInput!) {
  analytics(query: $query) {
    columns { name type } rows rowCount datasetVersion fromCache durationMs
  }
}"""

MONTHLY_BY_COUNTRY = {
    "dataset": "orders",
    "measures": ["revenue", "orders"],
    "dimensions": ["country"],
    "timeDimension": {
        "member": "order_ts",
        "granularity": "MONTH",
        "from": "2024-03-01T00:00:00",
        "to": "2024-07-01T00:00:00",
    },
    "filters": [
        {"member": "status", "operator": "NOT_EQUALS", "values": ["cancelled"]},
        {
            "or": [
                {"member": "channel", "operator": "IN", "values": ["web", "mobile"]},
                {"member": "category", "operator": "STARTS_WITH", "values": ["Book"]},
            ]
        },
    ],
    "order": [{"member": "order_ts", "direction": "ASC"}, {"member": "country"}],
}


def expected_monthly(frame: pl.DataFrame) -> list[list[Any]]:
    """The same numbers, from Polars."""
    kept = frame.filter(
        (pl.col("order_ts") >= pl.datetime(2024, 3, 1))
        & (pl.col("order_ts") < pl.datetime(2024, 7, 1))
        & (pl.col("status") != "cancelled")
        & (pl.col("channel").is_in(["web", "mobile"]) | pl.col("category").str.starts_with("book"))
    )
    grouped = (
        kept.group_by(pl.col("order_ts").dt.truncate("1mo").alias("month"), "country")
        .agg(pl.col("revenue").sum(), pl.len().alias("orders"))
        .sort("month", "country")
    )
    return [[m.isoformat(), c, r, n] for m, c, r, n in grouped.rows()]


def assert_same(got: list[list[Any]], expected: list[list[Any]]) -> None:
    assert [row[:2] + row[3:] for row in got] == [row[:2] + row[3:] for row in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine[2] == pytest.approx(theirs[2], rel=1e-9)


@pytest.fixture
async def server(embedded_settings: Settings) -> AsyncIterator[str]:
    async with live_analytics_server(embedded_settings) as url:
        yield url


async def test_a_dashboard_charts_a_dataset_and_sees_each_load(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    pipeline_id = await make_pipeline_id(embedded_settings, tmp_path)
    first = orders(20_000, seed=5)
    await load_orders(embedded_settings, pipeline_id, first, "replace")
    _, token = await factories.make_user(embedded_settings, Role.VIEWER)
    client = GraphQLClient(server, token)

    (dataset,) = (await client.data(DATASETS))["datasets"]
    assert (dataset["name"], dataset["version"], dataset["rowCount"]) == ("orders", 1, 20_000)
    assert {"name": "revenue", "kind": "MEASURE", "type": "number", "aggregation": "sum"} in (
        dataset["members"]
    )
    assert {"name": "order_ts", "kind": "TIME", "type": "time", "aggregation": None} in (
        dataset["members"]
    )

    answer = (await client.data(ANALYTICS, {"query": MONTHLY_BY_COUNTRY}))["analytics"]
    assert answer["columns"] == [
        {"name": "order_ts.month", "type": "time"},
        {"name": "country", "type": "string"},
        {"name": "revenue", "type": "number"},
        {"name": "orders", "type": "number"},
    ]
    assert_same(answer["rows"], expected_monthly(first))
    assert (answer["rowCount"], answer["datasetVersion"], answer["fromCache"]) == (
        len(answer["rows"]),
        1,
        False,
    )

    repeat = (await client.data(ANALYTICS, {"query": MONTHLY_BY_COUNTRY}))["analytics"]
    assert repeat["fromCache"] is True
    assert repeat["rows"] == answer["rows"]

    more = orders(5_000, seed=6)
    await load_orders(embedded_settings, pipeline_id, more, "append")
    after = (await client.data(ANALYTICS, {"query": MONTHLY_BY_COUNTRY}))["analytics"]
    assert (after["datasetVersion"], after["fromCache"]) == (2, False)
    assert_same(after["rows"], expected_monthly(pl.concat([first, more])))


async def test_errors_reach_the_client_with_their_codes(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    pipeline_id = await make_pipeline_id(embedded_settings, tmp_path)
    await load_orders(embedded_settings, pipeline_id, orders(2_000), "replace")
    _, token = await factories.make_user(embedded_settings, Role.VIEWER)

    anonymous = await GraphQLClient(server).post(ANALYTICS, {"query": MONTHLY_BY_COUNTRY})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await GraphQLClient(server).post(DATASETS))["errors"][0]["extensions"]["code"] == (
        "UNAUTHENTICATED"
    )

    client = GraphQLClient(server, token)
    cases = [
        ({"dataset": "nope", "measures": ["orders"]}, "DATASET_NOT_FOUND", ["dataset"]),
        ({"dataset": "orders", "measures": ["profit"]}, "QUERY_INVALID", ["measures", "0"]),
        (
            {"dataset": "orders", "measures": ["orders"], "limit": 50_001},
            "QUERY_INVALID",
            ["limit"],
        ),
        (
            {
                "dataset": "orders",
                "measures": ["orders"],
                "filters": [{"member": "country", "operator": "EQUALS", "values": [{"a": 1}]}],
            },
            "QUERY_INVALID",
            ["filters", "0", "values"],
        ),
        (
            {
                "dataset": "orders",
                "measures": ["orders"],
                "filters": [
                    {"member": "country", "and": [{"member": "country", "operator": "SET"}]}
                ],
            },
            "QUERY_INVALID",
            ["filters", "0"],
        ),
        (
            {
                "dataset": "orders",
                "measures": ["orders"],
                "dimensions": ["customer_id"],
            },
            "QUERY_INVALID",
            ["dimensions", "0"],
        ),
    ]
    for query, code, path in cases:
        body = await client.post(ANALYTICS, {"query": query})
        (error,) = body["errors"]
        assert error["extensions"]["code"] == code, body
        assert error["extensions"].get("inputPath", []) == path


async def test_too_many_groups_reach_the_client_as_too_expensive(
    embedded_settings: Settings, tmp_path: Path
) -> None:
    pipeline_id = await make_pipeline_id(embedded_settings, tmp_path)
    await load_orders(embedded_settings, pipeline_id, orders(2_000), "replace")
    _, token = await factories.make_user(embedded_settings, Role.VIEWER)
    hourly = {
        "dataset": "orders",
        "measures": ["orders"],
        "timeDimension": {"member": "order_ts", "granularity": "HOUR"},
    }
    guarded = embedded_settings.model_copy(update={"analytics_max_groups": 100})
    async with live_analytics_server(guarded) as url:
        body = await GraphQLClient(url, token).post(ANALYTICS, {"query": hourly})
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"
    assert "groups" in body["errors"][0]["message"]


async def test_a_pipeline_run_makes_its_dataset_queryable(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    """The whole way: a pipeline with a dataset section, a run, then the dashboard."""
    _, token = await factories.make_user(embedded_settings, Role.OPERATOR)
    client = GraphQLClient(server, token)
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(400))
    spec = {
        **factories.orders_spec("orders_ds", "replace"),
        "dataset": {
            "dimensions": ["status"],
            "measures": {"revenue": "sum(revenue)", "orders": "count(*)"},
        },
    }
    bad = {**spec, "dataset": {"measures": {"revenue": "sum(revenue) + 1"}}}
    source = await client.data(
        ops.CREATE_SOURCE, {"input": {"name": "ds_src", "kind": "csv", "uri": str(csv_path)}}
    )
    source_id = source["createSource"]["source"]["id"]
    refused = await client.data(
        ops.CREATE_PIPELINE, {"input": {"name": "ds_bad", "sourceId": source_id, "spec": bad}}
    )
    (error,) = refused["createPipeline"]["errors"]
    assert (error["code"], error["path"]) == ("SPEC_INVALID", ["dataset", "measures", "revenue"])

    created = await client.data(
        ops.CREATE_PIPELINE, {"input": {"name": "ds", "sourceId": source_id, "spec": spec}}
    )
    pipeline_id = created["createPipeline"]["pipeline"]["id"]
    for version in (1, 2):
        run = await flows.wait_for_end(client, await flows.trigger(client, pipeline_id))
        assert run["status"] == "SUCCEEDED", run["error"]
        query = {
            "dataset": "orders_ds",
            "measures": ["orders", "revenue"],
            "dimensions": ["status"],
        }
        answer = (await client.data(ANALYTICS, {"query": query}))["analytics"]
        assert answer["datasetVersion"] == version
        kept = [line.split(",") for line in factories.orders_rows(400)]
        by_status: dict[str, list[float]] = {}
        for _, status, quantity, price in kept:
            if status != "cancelled":
                totals = by_status.setdefault(status, [0, 0.0])
                totals[0] += 1
                totals[1] += int(quantity) * float(price)
        got = {row[0]: row[1:] for row in answer["rows"]}
        assert got.keys() == by_status.keys()
        for status, (count, revenue) in by_status.items():
            assert got[status][0] == count
            assert got[status][1] == pytest.approx(revenue, rel=1e-9)
