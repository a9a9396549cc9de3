"""Previews: a source's first rows as read, or a spec applied to them, loading nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import polars as pl

from app.db import session_scope
from app.errors import InvalidInput
from app.etl import preview as pipeline_preview
from app.etl.sources import parse_source
from app.etl.sources import preview as source_preview
from app.etl.sources.policy import SourcePolicy
from app.etl.sources.reader import ReadContext
from app.etl.spec_limits import SpecLimits
from app.etl.steps_table import JoinStep
from app.services import sources as source_service
from app.services.pipelines import parse_bounded
from app.services.row_access import CallerTables

if TYPE_CHECKING:
    from app.analytics.scope import Scope
    from app.config import Settings
    from app.etl.sources import SourceConfig
    from app.etl.spec import PipelineSpec

MAX_PREVIEW_ROWS = 1000
# Values JSON cannot carry as themselves travel as ISO/decimal text.
_AS_TEXT = (pl.Date, pl.Datetime, pl.Time, pl.Duration, pl.Decimal)


@dataclass(frozen=True)
class PreviewReject:
    """A row of the sample the contract would quarantine."""

    source: str | None
    row_number: int | None
    reason: str
    raw: str | None


@dataclass(frozen=True)
class PreviewResult:
    columns: list[tuple[str, str]]
    rows: list[list[Any]]
    rows_sampled: int
    rejects: list[PreviewReject] = field(default_factory=list)


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
    *, settings: Settings, source_id: str, spec: dict[str, Any], limit: int, scope: Scope = ()
) -> PreviewResult:
    """The whole plan (contract, steps, joins, merge-key checks) on the source's first
    rows, as `app.etl.preview` runs it, loading nothing: the rows the table would get,
    and the rows the contract would quarantine with their reasons. A join with a
    warehouse table reads it as the caller may (`row_access`: within their scope)."""
    check_limit(limit)
    # Capped and parsed in a thread, like createPipeline's check (bounded work per request).
    limits = SpecLimits.from_settings(settings)
    parsed = await asyncio.to_thread(parse_bounded, spec, limits)
    config = await _source_config(settings, source_id)
    preview = await pipeline_preview.preview_pipeline(
        config,
        parsed,
        limit=limit,
        warehouse=CallerTables(settings, scope),
        join_sources=await _join_sources(settings, parsed),
    )
    result = result_of(preview.frame, limit, preview.rows_sampled)
    return replace(result, rejects=[_rejected(row) for row in preview.rejects.rows(named=True)])


async def _join_sources(settings: Settings, spec: PipelineSpec) -> dict[str, SourceConfig]:
    """The registered sources the spec's joins name, by name (as a run finds them)."""
    names = {s.join.source for s in spec.steps if isinstance(s, JoinStep) and s.join.source}
    policy = SourcePolicy.from_settings(settings)
    found: dict[str, SourceConfig] = {}
    async with session_scope(settings) as session:
        for name in sorted(names):
            source = await source_service.get_by_name(session=session, name=name)
            if source is not None:
                found[name] = parse_source(source.kind, source.uri, source.options, policy)
    return found


def _rejected(row: dict[str, Any]) -> PreviewReject:
    return PreviewReject(
        source=row["source"], row_number=row["row_number"], reason=row["reason"], raw=row["raw"]
    )
