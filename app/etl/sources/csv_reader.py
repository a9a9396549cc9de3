"""The CSV reader behind `open_reader`: one local file, parsed in a worker thread."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import polars as pl

from app.etl.sources.csv import iter_csv_batches, read_csv_schema
from app.etl.sources.reader import ROW_COLUMN, SOURCE_COLUMN
from app.etl.sources.threads import iterate_in_thread

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from app.etl.sources import SourceConfig


class CsvReader:
    def __init__(self, config: SourceConfig) -> None:
        self._config = config
        self._schema: pl.Schema | None = None

    async def schema(self) -> pl.Schema:
        if self._schema is None:
            self._schema = await asyncio.to_thread(read_csv_schema, self._config)
        return self._schema

    async def batches(self, batch_rows: int) -> AsyncIterator[pl.DataFrame]:
        schema = await self.schema()
        name = self._config.path.name
        line = 2 if self._config.options.header else 1
        generator = iter_csv_batches(self._config, batch_rows, schema=schema)
        async for frame in iterate_in_thread(generator):
            # Without embedded line breaks a row's line is its position; the full reader
            # counts them exactly.
            yield frame.with_columns(
                pl.lit(name, pl.String).alias(SOURCE_COLUMN),
                pl.int_range(line, line + frame.height, dtype=pl.Int64).alias(ROW_COLUMN),
            )
            line += frame.height

    async def aclose(self) -> None:
        return None
