"""Run reports: per pipeline, how many runs, how many succeeded, how long, how many rows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlmodel import col, select
from sqlmodel.sql.expression import Select

from app.models.pipeline import Pipeline
from app.models.run import Run, RunStatus

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

_RUN_SCHEMA: dict[str, pl.DataType] = {
    "pipeline_id": pl.String(),
    "status": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
    "rows_written": pl.Int64(),
    "rows_rejected": pl.Int64(),
}
_ENDED = [status.value for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)]


@dataclass(frozen=True)
class PipelineReport:
    """One pipeline's runs in the window. Durations and rows count succeeded runs only:
    a failed or cancelled run leaves the warehouse as it was, and often ends early."""

    pipeline_id: str
    pipeline_name: str
    runs: int
    succeeded: int
    failed: int
    cancelled: int
    active: int  # queued, running or cancelling
    success_rate: float | None  # succeeded / ended runs; None while none has ended
    p50_seconds: float | None
    p95_seconds: float | None
    rows_loaded: int
    rows_rejected: int


async def by_pipeline(
    *, session: AsyncSession, since: datetime | None = None
) -> list[PipelineReport]:
    """Every live pipeline (and any deleted one with runs in the window), by name."""
    # sqlmodel's select() is typed for at most four columns; its Select takes any number.
    statement: Select[str, str, datetime | None, datetime | None, int, int] = Select(
        col(Run.pipeline_id),
        col(Run.status),
        col(Run.started_at),
        col(Run.finished_at),
        col(Run.rows_written),
        col(Run.rows_rejected),
    )
    if since is not None:
        statement = statement.where(col(Run.created_at) >= since)
    rows = list((await session.exec(statement)).all())
    summary = await asyncio.to_thread(_summarise, rows)
    names = await _names(session, list(summary))
    return sorted(
        (
            _report(pipeline_id, names[pipeline_id], summary.get(pipeline_id))
            for pipeline_id in names
        ),
        key=lambda report: report.pipeline_name,
    )


async def _names(session: AsyncSession, with_runs: list[str]) -> dict[str, str]:
    live = col(Pipeline.deleted_at).is_(None)
    statement = select(Pipeline.id, Pipeline.name).where(live | col(Pipeline.id).in_(with_runs))
    return dict((await session.exec(statement)).all())


def _summarise(rows: list[Any]) -> dict[str, dict[str, Any]]:
    """Aggregate the runs per pipeline in one Polars plan (runs off the event loop)."""
    if not rows:
        return {}
    frame = pl.DataFrame(rows, schema=_RUN_SCHEMA, orient="row")
    status = pl.col("status")
    succeeded = status == RunStatus.SUCCEEDED.value
    duration = (pl.col("finished_at") - pl.col("started_at")).dt.total_microseconds() / 1e6
    ok_duration = duration.filter(succeeded & duration.is_not_null())
    summary = frame.group_by("pipeline_id").agg(
        runs=pl.len(),
        succeeded=succeeded.sum(),
        failed=(status == RunStatus.FAILED.value).sum(),
        cancelled=(status == RunStatus.CANCELLED.value).sum(),
        ended=status.is_in(_ENDED).sum(),
        p50_seconds=ok_duration.quantile(0.5, "linear"),
        p95_seconds=ok_duration.quantile(0.95, "linear"),
        rows_loaded=pl.col("rows_written").filter(succeeded).sum(),
        rows_rejected=pl.col("rows_rejected").filter(succeeded).sum(),
    )
    return {row["pipeline_id"]: row for row in summary.to_dicts()}


def _report(pipeline_id: str, name: str, summary: dict[str, Any] | None) -> PipelineReport:
    if summary is None:
        return PipelineReport(pipeline_id, name, 0, 0, 0, 0, 0, None, None, None, 0, 0)
    ended = int(summary["ended"])
    return PipelineReport(
        pipeline_id=pipeline_id,
        pipeline_name=name,
        runs=int(summary["runs"]),
        succeeded=int(summary["succeeded"]),
        failed=int(summary["failed"]),
        cancelled=int(summary["cancelled"]),
        active=int(summary["runs"]) - ended,
        success_rate=summary["succeeded"] / ended if ended else None,
        p50_seconds=summary["p50_seconds"],
        p95_seconds=summary["p95_seconds"],
        rows_loaded=int(summary["rows_loaded"]),
        rows_rejected=int(summary["rows_rejected"]),
    )
