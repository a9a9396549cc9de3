"""Putting frames into an embedded warehouse file and describing them as datasets."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from app.analytics.compiler import Relation
from app.analytics.datasets import parse_dataset
from app.analytics.members import DatasetInfo
from app.analytics.stats import measure
from app.etl.names import quote_ident
from app.etl.sample import orders_frame
from app.etl.warehouse import open_warehouse
from app.etl.warehouse.duckdb import in_place_access
from app.etl.warehouse.sql import select_from
from tests import factories

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings
    from app.etl.warehouse import Mode

_VIEWS = itertools.count()

ORDERS_DATASET: dict[str, Any] = {
    "time": "order_ts",
    "dimensions": ["country", "category", "status", "channel"],
    "measures": {
        "revenue": "sum(revenue)",
        "orders": "count(*)",
        "customers": "count_distinct(customer_id)",
        "avg_quantity": "avg(quantity)",
    },
}


def orders(rows: int, seed: int = 0) -> pl.DataFrame:
    """The sample orders with the revenue the benchmark pipeline derives."""
    frame = orders_frame(rows, seed)
    revenue = pl.col("quantity") * pl.col("unit_price") * (1 - pl.col("discount"))
    return frame.with_columns(revenue=revenue)


def spec_with_dataset(table: str, dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    """A pipeline spec as the runner hands it to the hook."""
    return {"destination": {"table": table}, "dataset": dataset or ORDERS_DATASET}


def put_table(path: Path, table: str, frame: pl.DataFrame) -> None:
    """Replace `table` in the DuckDB file with `frame` (bypassing the load machinery)."""
    view = f"frame_{next(_VIEWS)}"
    with in_place_access(path).cursor() as cursor:
        cursor.register(view, frame.to_arrow())
        cursor.execute(f"CREATE OR REPLACE TABLE {quote_ident(table)} AS {select_from(view)}")
        cursor.unregister(view)


def describe(path: Path, table: str, dataset: dict[str, Any], version: int = 1) -> DatasetInfo:
    """The dataset as the load hook would record it, measured from the table."""
    spec = parse_dataset(dataset, None)
    with in_place_access(path).cursor() as cursor:
        members, stats = measure(cursor, Relation(table=(table,)), spec)
    return DatasetInfo(
        name=table,
        table=table,
        version=version,
        members={member.name: member for member in members},
        stats=stats,
        replica_uri=None,
        loaded_at=datetime.now(UTC),
        definition=spec.to_json(),
    )


async def load(settings: Settings, table: str, frame: pl.DataFrame, mode: Mode = "replace") -> None:
    """Load `frame` through the warehouse, as a run would."""
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        table_load = await warehouse.begin_load(table=table, mode=mode, run_id=uuid.uuid4().hex)
        await table_load.write(frame)
        await table_load.commit()
    finally:
        await warehouse.close()


async def load_orders(
    settings: Settings, pipeline_id: str, frame: pl.DataFrame, mode: Mode
) -> None:
    """A run's load of the `orders` dataset, then what the runner calls after it succeeds."""
    from app.analytics.hooks import after_successful_load

    await load(settings, "orders", frame, mode)
    await after_successful_load(
        settings,
        pipeline_id=pipeline_id,
        pipeline_name="orders",
        spec=spec_with_dataset("orders"),
        table="orders",
    )


async def make_pipeline_id(settings: Settings, directory: Path) -> str:
    """A real pipeline for the dataset row to point at (its spec is not the point here)."""
    csv_path = factories.write_csv(directory, factories.orders_rows(3))
    source = await factories.make_source(settings, csv_path)
    pipeline = await factories.make_pipeline(settings, source, factories.orders_spec("unused"))
    return pipeline.id
