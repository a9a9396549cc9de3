"""`preview_source`: the first rows of a source, read without loading anything."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from app.etl.sources.reader import LOCATION_COLUMNS, open_reader

if TYPE_CHECKING:
    from app.etl.sources.config import SourceConfig
    from app.etl.sources.reader import ReadContext


async def preview_source(config: SourceConfig, context: ReadContext, limit: int) -> pl.DataFrame:
    """At most `limit` rows, data columns only; reads no further than it needs (one page,
    the start of one file)."""
    if limit < 0:
        raise ValueError("limit must not be negative")
    reader = open_reader(config, context)
    try:
        schema = await reader.schema()
        if limit == 0:
            return pl.DataFrame(schema=schema)
        batches = reader.batches(limit)
        try:
            async for batch in batches:
                return batch.head(limit).drop(LOCATION_COLUMNS, strict=False)
        finally:
            await batches.aclose()  # type: ignore[attr-defined]
        return pl.DataFrame(schema=schema)
    finally:
        await reader.aclose()
