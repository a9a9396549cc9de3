"""Queries through the service on the embedded warehouse: cache, versions, guards."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
import pytest

from app.analytics import service
from app.analytics.errors import DatasetNotFound, QueryInvalid, QueryTooExpensive
from app.analytics.hooks import after_successful_load
from app.analytics.query import Condition, Granularity, Operator, OrderBy, Query, TimeDimension
from app.errors import SpecInvalid
from app.etl.warehouse.duckdb import duckdb_path, in_place_access
from tests.unit.analytics.helpers import (
    load,
    load_orders,
    make_pipeline_id,
    orders,
    spec_with_dataset,
)

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings

REVENUE_BY_COUNTRY = Query(
    dataset="orders",
    measures=("revenue", "orders"),
    dimensions=("country",),
    order=(OrderBy("country"),),
)


def by_country(frame: pl.DataFrame) -> list[list[object]]:
    grouped = frame.group_by("country").agg(pl.col("revenue").sum(), pl.len().alias("orders"))
    return [list(row) for row in grouped.sort("country").rows()]


def close_enough(got: list[list[object]], expected: list[list[object]]) -> bool:
    return len(got) == len(expected) and all(
        g[0] == e[0]
        and g[2] == e[2]
        and abs(float(g[1]) - float(e[1])) < 1e-6 * abs(float(e[1])) + 1e-9  # type: ignore[arg-type]
        for g, e in zip(got, expected, strict=True)
    )


@pytest.fixture
async def pipeline_id(embedded_settings: Settings, tmp_path: Path) -> str:
    return await make_pipeline_id(embedded_settings, tmp_path)


async def test_a_repeat_comes_from_the_cache_and_a_load_shows_new_numbers(
    embedded_settings: Settings, pipeline_id: str
) -> None:
    first = orders(2000, seed=1)
    await load_orders(embedded_settings, pipeline_id, first, "replace")
    answer = await service.run_query(settings=embedded_settings, query=REVENUE_BY_COUNTRY, scope=())
    assert (answer.from_cache, answer.dataset_version) == (False, 1)
    assert close_enough(answer.rows, by_country(first))
    again = await service.run_query(settings=embedded_settings, query=REVENUE_BY_COUNTRY, scope=())
    assert again.from_cache
    assert again.rows == answer.rows

    more = orders(500, seed=2)
    await load_orders(embedded_settings, pipeline_id, more, "append")
    after = await service.run_query(settings=embedded_settings, query=REVENUE_BY_COUNTRY, scope=())
    assert (after.from_cache, after.dataset_version) == (False, 2)
    assert close_enough(after.rows, by_country(pl.concat([first, more])))


async def test_datasets_list_members_with_types_and_the_version(
    embedded_settings: Settings, pipeline_id: str
) -> None:
    await load_orders(embedded_settings, pipeline_id, orders(100), "replace")
    await load_orders(embedded_settings, pipeline_id, orders(100), "replace")
    (dataset,) = await service.list_datasets(settings=embedded_settings, scope=())
    assert (dataset.name, dataset.version, dataset.stats.row_count) == ("orders", 2, 100)
    kinds = {m.name: (m.kind, m.type) for m in dataset.members.values()}
    assert kinds == {
        "order_ts": ("time", "time"),
        "country": ("dimension", "string"),
        "category": ("dimension", "string"),
        "status": ("dimension", "string"),
        "channel": ("dimension", "string"),
        "revenue": ("measure", "number"),
        "orders": ("measure", "number"),
        "customers": ("measure", "number"),
        "avg_quantity": ("measure", "number"),
    }
    assert dataset.stats.cardinalities["country"] == orders(100)["country"].n_unique()


async def test_the_cost_guard_refuses_too_many_groups(
    embedded_settings: Settings, pipeline_id: str
) -> None:
    guarded = embedded_settings.model_copy(update={"analytics_max_groups": 500})
    await load_orders(embedded_settings, pipeline_id, orders(5000), "replace")
    daily = Query(
        dataset="orders",
        measures=("orders",),
        dimensions=("country",),
        time_dimension=TimeDimension("order_ts", Granularity.DAY),
    )
    with pytest.raises(QueryTooExpensive, match=r"groups \(366 days x country ~13\)"):
        await service.run_query(settings=guarded, query=daily, scope=())
    # Pinned to one country, the same days are few enough groups.
    narrow = Query(
        dataset="orders",
        measures=("orders",),
        dimensions=("country",),
        time_dimension=TimeDimension("order_ts", Granularity.DAY),
        filters=(Condition("country", Operator.EQUALS, ("DE",)),),
    )
    answer = await service.run_query(settings=guarded, query=narrow, scope=())
    expected = orders(5000).filter(pl.col("country") == "DE").height
    assert sum(row[2] for row in answer.rows) == expected


async def test_a_slow_query_is_stopped(embedded_settings: Settings, pipeline_id: str) -> None:
    impatient = embedded_settings.model_copy(update={"analytics_timeout_seconds": 0.02})
    path = duckdb_path(embedded_settings.warehouse_target)
    with in_place_access(path).cursor() as cursor:
        cursor.execute(
            "CREATE TABLE big AS SELECT range AS id, (range % 1000)::VARCHAR AS bucket, "
            "TIMESTAMP '2024-01-01' + to_seconds(range % 31536000) AS at FROM range(4000000)"
        )
    dataset = {"time": "at", "dimensions": ["bucket"], "measures": {"ids": "count_distinct(id)"}}
    await after_successful_load(
        embedded_settings,
        pipeline_id=pipeline_id,
        pipeline_name="big",
        spec=spec_with_dataset("big", dataset),
        table="big",
    )
    query = Query(dataset="big", measures=("ids",), dimensions=("bucket",))
    with pytest.raises(QueryTooExpensive, match=r"ran longer than 0\.02 s"):
        await service.run_query(settings=impatient, query=query, scope=())


async def test_unknown_datasets_and_members_are_refused(
    embedded_settings: Settings, pipeline_id: str
) -> None:
    with pytest.raises(DatasetNotFound):
        await service.run_query(settings=embedded_settings, query=REVENUE_BY_COUNTRY, scope=())
    await load_orders(embedded_settings, pipeline_id, orders(10), "replace")
    for query in (
        Query(dataset="orders", measures=("profit",)),
        Query(dataset="orders", measures=("country",)),
        Query(dataset="orders", dimensions=("revenue",)),
        Query(dataset="orders", measures=("orders",), order=(OrderBy("revenue"),)),
    ):
        with pytest.raises(QueryInvalid):
            await service.run_query(settings=embedded_settings, query=query, scope=())


async def test_the_hook_ignores_pipelines_without_a_dataset(
    embedded_settings: Settings, pipeline_id: str
) -> None:
    await load(embedded_settings, "plain", orders(10))
    await after_successful_load(
        embedded_settings,
        pipeline_id=pipeline_id,
        pipeline_name="plain",
        spec={"destination": {"table": "plain"}},
        table="plain",
    )
    assert await service.list_datasets(settings=embedded_settings, scope=()) == []


async def test_a_load_without_the_section_still_bumps_an_existing_dataset(
    embedded_settings: Settings, pipeline_id: str
) -> None:
    await load_orders(embedded_settings, pipeline_id, orders(10), "replace")
    await load(embedded_settings, "orders", orders(20), "replace")
    await after_successful_load(
        embedded_settings,
        pipeline_id=pipeline_id,
        pipeline_name="other",
        spec={"destination": {"table": "orders"}},
        table="orders",
    )
    (dataset,) = await service.list_datasets(settings=embedded_settings, scope=())
    assert (dataset.version, dataset.stats.row_count) == (2, 20)


async def test_the_hook_refuses_a_dataset_the_table_no_longer_fits(
    embedded_settings: Settings, pipeline_id: str
) -> None:
    await load(embedded_settings, "orders", orders(10).drop("channel"))
    with pytest.raises(SpecInvalid, match="channel") as caught:
        await after_successful_load(
            embedded_settings,
            pipeline_id=pipeline_id,
            pipeline_name="orders",
            spec=spec_with_dataset("orders"),
            table="orders",
        )
    assert caught.value.path == ["dataset", "dimensions", "3"]
