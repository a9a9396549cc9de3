"""Previews: a source's first rows as read, or a spec applied to them, loading nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from app.db import session_scope
from app.errors import InvalidInput
from app.etl.sources import parse_source
from app.etl.sources import preview as source_preview
from app.etl.sources.policy import SourcePolicy
from app.etl.sources.reader import ReadContext
from app.etl.spec_limits import SpecLimits
from app.etl.transform import run_transform
from app.services import sources as source_service
from app.services.pipelines import parse_bounded

if TYPE_CHECKING:
    from app.config import Settings
    from app.etl.sources import SourceConfig

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


async def _source_config(settings: Settings, source_id: str) -> SourceConfig:
    async with session_scope(settings) as session:
        source = await source_service.get(session=session, source_id=source_id)
    return parse_source(
        source.kind, source.uri, source.options, SourcePolicy.from_settings(settings)
    )


async def preview_source(*, settings: Settings, source_id: str, limit: int) -> PreviewResult:
    check_limit(limit)
    config = await _source_config(settings, source_id)
    frame = await source_preview.preview_source(config, ReadContext(), limit)
    return result_of(frame, limit, frame.height)


async def preview_pipeline(
    *, settings: Settings, source_id: str, spec: dict[str, Any], limit: int
) -> PreviewResult:
    check_limit(limit)
    # Capped and parsed in a thread, like createPipeline's check (bounded work per request).
    limits = SpecLimits.from_settings(settings)
    parsed = await asyncio.to_thread(parse_bounded, spec, limits)
    config = await _source_config(settings, source_id)
    sample = await source_preview.preview_source(config, ReadContext(), SAMPLE_ROWS)
    frame = await asyncio.to_thread(run_transform, parsed.steps, sample)
    return result_of(frame, limit, sample.height)
