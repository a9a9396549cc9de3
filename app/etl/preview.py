"""A pipeline applied to the start of its source, loading nothing: rows, schema, rejects."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from app.etl.batches import BatchProcessor
from app.etl.join_sides import read_join_sides
from app.etl.sources.reader import ROW_COLUMN, SOURCE_COLUMN, ReadContext, open_reader
from app.etl.step_base import StepContext
from app.etl.transform import run_transform, split_stages
from app.etl.validation import validate_against_schema

if TYPE_CHECKING:
    from collections.abc import Mapping

    from app.etl.sources import SourceConfig
    from app.etl.spec import PipelineSpec
    from app.etl.warehouse.protocol import TableReader

# Rows read to preview a spec: enough that a selective filter still leaves some to show.
SAMPLE_ROWS = 10_000


@dataclass(frozen=True)
class PipelinePreview:
    frame: pl.DataFrame
    """The first rows the destination would receive."""
    schema: pl.Schema
    """The source's columns and types as read."""
    rejects: pl.DataFrame
    """Rows of the sample the contract would quarantine: source, row_number, reason, raw."""
    rows_sampled: int


async def preview_pipeline(
    source: SourceConfig,
    spec: PipelineSpec,
    *,
    limit: int,
    sample_rows: int = SAMPLE_ROWS,
    params: Mapping[str, Any] | None = None,
    warehouse: TableReader | None = None,
    join_sources: Mapping[str, SourceConfig] | None = None,
) -> PipelinePreview:
    """Run the whole plan (contract, steps, merge-key checks) on the source's first
    `sample_rows` rows. Joins with a warehouse table read it through `warehouse`."""
    reader = open_reader(source, ReadContext(params=params or {}))
    try:
        schema = await reader.schema()
        sample = await _first_batch(reader.batches(sample_rows), schema)
    finally:
        await reader.aclose()
    sides = (
        await read_join_sides(spec, warehouse, join_sources or {}, params or {})
        if warehouse is not None
        else {}
    )
    # Validation resolves every step's schema (Polars planning): off the event loop.
    await asyncio.to_thread(_validate, spec, schema, sides)
    frame, rejects = await asyncio.to_thread(_apply, spec, sample, StepContext(sides=sides))
    return PipelinePreview(frame.head(limit), schema, rejects, sample.height)


def _validate(spec: PipelineSpec, schema: pl.Schema, sides: Mapping[str, pl.LazyFrame]) -> None:
    join_schemas = {side: frame.collect_schema() for side, frame in sides.items()}
    validate_against_schema(spec, schema, join_schemas=join_schemas)


async def _first_batch(batches: Any, schema: pl.Schema) -> pl.DataFrame:
    try:
        async for batch in batches:
            return batch  # type: ignore[no-any-return]
    finally:
        await batches.aclose()
    return pl.DataFrame(schema={**schema, SOURCE_COLUMN: pl.String(), ROW_COLUMN: pl.Int64()})


def _apply(
    spec: PipelineSpec, sample: pl.DataFrame, context: StepContext
) -> tuple[pl.DataFrame, pl.DataFrame]:
    head, tail = split_stages(spec.steps)
    processor = BatchProcessor(spec, steps=head, context=context, watermark=None)
    # A preview shows bad rows; it does not fail on them, whatever `bad_rows` says.
    processor.fail_on_bad_rows = False
    streamed = processor.head(sample)
    frame = streamed.frame
    if tail:
        frame = run_transform(tail, frame, context=context, offset=len(head))
    frame, late = processor.finish(frame)
    return frame, pl.concat([streamed.rejects, late])
