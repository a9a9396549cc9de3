"""Previews: a source's first rows as read, or a spec applied to them, loading nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from app.db import session_scope
from app.errors import InvalidInput
from app.etl.sources import parse_source
from app.etl.sources.csv import iter_csv_batches
from app.etl.sources.policy import SourcePolicy
from app.etl.spec import parse_spec
from app.etl.transform import run_transform
from app.services import sources as source_service

if TYPE_CHECKING:
    from app.config import Settings
    from app.etl.sources import SourceConfig
    from app.etl.spec import PipelineSpec

MAX_PREVIEW_ROWS = 1000
# Rows read to preview a spec: enough that a selective filter still leaves some to show.
SAMPLE_ROWS = 10_000
# Values JSON cannot carry as themselves travel as ISO/decimal text.
_AS_TEXT = (pl.Date, pl.Datetime, pl.Time, pl.Duration, pl.Decimal)


@dataclass(frozen=True)
class PreviewResult:
    columns: list[tuple[str, str]]
    rows: list[list[Any]]
    rows_sampled: int


def result_of(frame: pl.DataFrame, limit: int, rows_sampled: int) -> PreviewResult:
    head = frame.head(limit).with_columns(pl.col(*_AS_TEXT).cast(pl.String))
    columns = [(name, str(dtype)) for name, dtype in frame.schema.items()]
    return PreviewResult(
        columns=columns, rows=[list(row) for row in head.rows()], rows_sampled=rows_sampled
    )


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PREVIEW_ROWS:
        raise InvalidInput(f"limit must be between 1 and {MAX_PREVIEW_ROWS}", path=["limit"])


def _first_batch(config: SourceConfig, rows: int) -> pl.DataFrame:
    return next(iter(iter_csv_batches(config, rows)), pl.DataFrame())


async def _source_config(settings: Settings, source_id: str) -> SourceConfig:
    async with session_scope(settings) as session:
        source = await source_service.get(session=session, source_id=source_id)
    return parse_source(
        source.kind, source.uri, source.options, SourcePolicy.from_settings(settings)
    )


async def preview_source(*, settings: Settings, source_id: str, limit: int) -> PreviewResult:
    check_limit(limit)
    config = await _source_config(settings, source_id)
    frame = await asyncio.to_thread(_first_batch, config, limit)
    return result_of(frame, limit, frame.height)


def _apply(config: SourceConfig, spec: PipelineSpec) -> tuple[pl.DataFrame, int]:
    sample = _first_batch(config, SAMPLE_ROWS)
    return run_transform(spec.steps, sample), sample.height


async def preview_pipeline(
    *, settings: Settings, source_id: str, spec: dict[str, Any], limit: int
) -> PreviewResult:
    check_limit(limit)
    parsed = parse_spec(spec)
    config = await _source_config(settings, source_id)
    frame, sampled = await asyncio.to_thread(_apply, config, parsed)
    return result_of(frame, limit, sampled)
