"""The report service against a real database: counts, percentiles and rows per pipeline,
from runs whose times are set here, so every number is known exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from app.db import session_scope
from app.models.run import Run, RunStatus
from app.services import pipelines as pipeline_service
from app.services import reports as report_service
from tests import factories

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings
    from app.models.pipeline import Pipeline

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def settings(request: pytest.FixtureRequest) -> Settings:
    name = "embedded_settings" if request.param == "sqlite" else "service_settings"
    settings: Settings = request.getfixturevalue(name)
    return settings


async def pipeline(settings: Settings, tmp_path: Path) -> Pipeline:
    source = await factories.make_source(settings, factories.write_csv(tmp_path, ["1,paid,1,1.0"]))
    return await factories.make_pipeline(settings, source, factories.orders_spec("t"))


def run(
    pipeline: Pipeline,
    status: RunStatus,
    seconds: float | None = None,
    written: int = 0,
    rejected: int = 0,
    days_ago: int = 0,
) -> Run:
    created = datetime.now(UTC) - timedelta(days=days_ago)
    return Run(
        pipeline_id=pipeline.id,
        pipeline_version=1,
        status=status,
        created_at=created,
        started_at=START if seconds is not None else None,
        finished_at=START + timedelta(seconds=seconds) if seconds is not None else None,
        rows_written=written,
        rows_rejected=rejected,
    )


async def reports(
    settings: Settings, since: datetime | None = None
) -> dict[str, report_service.PipelineReport]:
    async with session_scope(settings) as session:
        rows = await report_service.by_pipeline(session=session, since=since)
    return {row.pipeline_id: row for row in rows}


async def test_counts_percentiles_and_rows_of_one_pipeline(
    settings: Settings, tmp_path: Path
) -> None:
    measured = await pipeline(settings, tmp_path)
    async with session_scope(settings) as session:
        for seconds, written in [(10, 100), (20, 100), (30, 100), (40, 100), (100, 50)]:
            session.add(run(measured, RunStatus.SUCCEEDED, seconds, written, rejected=2))
        session.add(run(measured, RunStatus.FAILED, 1, written=999))
        session.add(run(measured, RunStatus.CANCELLED, 5))
        session.add(run(measured, RunStatus.RUNNING))
        session.add(run(measured, RunStatus.SUCCEEDED, 1000, 7, days_ago=30))

    recent = (await reports(settings, since=datetime.now(UTC) - timedelta(days=7)))[measured.id]

    assert recent == report_service.PipelineReport(
        pipeline_id=measured.id,
        pipeline_name=measured.name,
        runs=8,
        succeeded=5,
        failed=1,
        cancelled=1,
        active=1,
        success_rate=5 / 7,
        p50_seconds=30.0,
        p95_seconds=recent.p95_seconds,  # compared approximately below
        rows_loaded=450,  # the failed run's rows were never loaded
        rows_rejected=10,
    )
    assert recent.p95_seconds == pytest.approx(88.0)  # 40 + 0.8 * (100 - 40): 4th to 5th
    everything = (await reports(settings))[measured.id]
    assert (everything.runs, everything.rows_loaded) == (9, 457)


async def test_pipelines_without_runs_and_deleted_ones_with_runs(
    settings: Settings, tmp_path: Path
) -> None:
    idle = await pipeline(settings, tmp_path)
    gone = await pipeline(settings, tmp_path)
    async with session_scope(settings) as session:
        session.add(run(gone, RunStatus.SUCCEEDED, 3, 1))
    async with session_scope(settings) as session:
        await pipeline_service.delete(session=session, pipeline_id=gone.id)

    now = await reports(settings)
    later = await reports(settings, since=datetime.now(UTC) + timedelta(days=1))

    idle_report = report_service.PipelineReport(
        idle.id, idle.name, 0, 0, 0, 0, 0, None, None, None, 0, 0
    )
    assert now[idle.id] == idle_report
    assert now[gone.id].runs == 1
    assert now[gone.id].pipeline_name.startswith(f"{gone.name}.deleted.")
    assert later[idle.id] == idle_report  # no run in the window: live pipelines, all zero
    assert gone.id not in later  # a deleted pipeline shows only with runs in the window
