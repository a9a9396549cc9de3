"""Shared pieces of the engine tests: sources on disk, a recording event sink, a run."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import polars as pl

from app.etl.engine import RunContext, run_pipeline
from app.etl.sample import write_orders_csv
from app.etl.sources import CsvSource, parse_source
from app.etl.sources.policy import SourcePolicy
from app.etl.spec import parse_spec

if TYPE_CHECKING:
    from pathlib import Path

    from app.etl.engine import LoadResult
    from app.etl.sources import SourceConfig
    from app.etl.warehouse import Warehouse
    from app.event_types import Event

Seen = tuple[str, str | None, dict[str, Any]]
ORDERS_STEPS: list[dict[str, Any]] = [
    {"filter": "status <> 'cancelled'"},
    {"derive": {"revenue": "quantity * unit_price * (1 - discount)"}},
]


class Events:
    """An event sink that keeps each event as it is stored: (kind, stage, payload)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []

    async def __call__(self, event: Event) -> None:
        self.seen.append((event.kind, event.stage, event.to_payload()))

    def progress(self) -> list[dict[str, Any]]:
        return [
            payload for kind, stage, payload in self.seen if (kind, stage) == ("progress", "load")
        ]


def orders_source(tmp_path: Path, rows: int, seed: int = 3) -> SourceConfig:
    path = write_orders_csv(tmp_path / "orders.csv", rows, seed=seed)
    return parse_source("csv", str(path), {}, SourcePolicy((tmp_path,)))


def csv_source(tmp_path: Path, name: str, text: str, **options: Any) -> SourceConfig:
    path = tmp_path / name
    path.write_text(text)
    return parse_source("csv", str(path), options, SourcePolicy((tmp_path,)))


def expected_orders(source: SourceConfig) -> pl.DataFrame:
    """The same transformation, computed independently with plain Polars expressions."""
    assert isinstance(source, CsvSource)
    return (
        pl.read_csv(source.path, try_parse_dates=True)
        .filter(pl.col("status") != "cancelled")
        .with_columns(revenue=pl.col("quantity") * pl.col("unit_price") * (1 - pl.col("discount")))
    )


async def run(
    source: SourceConfig,
    warehouse: Warehouse,
    spec: dict[str, Any],
    batch_rows: int = 100,
    emit: Any = None,
    *,
    run_id: str | None = None,
    **options: Any,
) -> LoadResult:
    context = RunContext(
        run_id=run_id or uuid.uuid4().hex,
        spec=parse_spec(spec),
        source=source,
        events=emit or Events(),
        batch_rows=batch_rows,
        **options,
    )
    return await run_pipeline(context, warehouse)
