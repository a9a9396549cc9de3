"""Reading a source to the end through `open_reader`, as the engine does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from app.etl.sources import LOCATION_COLUMNS, ReadContext, open_reader, parse_source
from app.etl.sources.policy import SourcePolicy

if TYPE_CHECKING:
    from pathlib import Path

    from app.etl.sources import SourceConfig


async def read_batches(
    config: SourceConfig, context: ReadContext | None = None, batch_rows: int = 1_000
) -> tuple[pl.Schema, list[pl.DataFrame]]:
    reader = open_reader(config, context or ReadContext())
    try:
        schema = await reader.schema()
        return schema, [batch async for batch in reader.batches(batch_rows)]
    finally:
        await reader.aclose()


async def read_all(
    config: SourceConfig, context: ReadContext | None = None, batch_rows: int = 1_000
) -> pl.DataFrame:
    """Every row, location columns included; an empty frame of the schema when none."""
    schema, batches = await read_batches(config, context, batch_rows)
    if not batches:
        return pl.DataFrame(schema=schema)
    return pl.concat(batches, how="diagonal_relaxed")


def data_only(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop(LOCATION_COLUMNS, strict=False)


def file_source(kind: str, uri: str, root: Path, **options: Any) -> SourceConfig:
    return parse_source(kind, uri, options, SourcePolicy((root,)))
