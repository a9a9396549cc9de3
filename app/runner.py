"""Executing one run: claim it, drive the ETL engine, record every event, finish it.

Called by the Dramatiq actor with only the run id. Every write is fenced on the run's
attempt, so a worker that lost its run can change nothing; a cancel is noticed at the
next progress write, between batches.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from app.db import session_scope
from app.errors import DataFlowError
from app.etl.engine import LoadResult, run_pipeline
from app.etl.sources import parse_source
from app.etl.sources.policy import SourcePolicy
from app.etl.spec import parse_spec
from app.etl.warehouse import open_warehouse
from app.events import publish_changes
from app.models.run import Run, RunStatus
from app.services import pipelines as pipeline_service
from app.services import run_events as event_service
from app.services import runs as run_service
from app.services import sources as source_service

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.config import Settings
    from app.models.pipeline_version import PipelineVersion
    from app.models.source import Source

logger = logging.getLogger(__name__)

_COUNTERS = ("rows_read", "rows_written", "rows_rejected", "rows_filtered")


class RunInterrupted(Exception):
    """This worker must stop: the run was cancelled, or another worker owns it now."""

    def __init__(self, run_id: str, cancelled: bool) -> None:
        super().__init__(run_id)
        self.cancelled = cancelled


class RunRecorder:
    """Writes a run's events and progress columns in one transaction each, publishes
    them after the commit, and stops the run when it was cancelled or taken over."""

    def __init__(self, settings: Settings, run: Run) -> None:
        self.settings = settings
        self.run_id = run.id
        self.attempt = run.attempt

    async def emit(self, kind: str, stage: str | None, payload: dict[str, Any]) -> None:
        values: dict[str, Any] = {key: payload[key] for key in _COUNTERS if key in payload}
        if stage is not None and kind in {"stage_started", "progress"}:
            values["stage"] = stage
        # Once the load has committed, a late cancel cannot undo it: record the end.
        committed = kind == "stage_finished" and stage == "load"
        async with session_scope(self.settings) as session:
            run = await run_service.record_progress(
                session=session,
                run_id=self.run_id,
                attempt=self.attempt,
                values=values,
                while_cancelling=committed,
            )
            if run is None:
                raise RunInterrupted(self.run_id, await self._cancelled(session))
            stored = await event_service.append(
                session=session, run_id=self.run_id, kind=kind, stage=stage, payload=payload
            )
        await publish_changes(self.settings, run, [stored])

    async def _cancelled(self, session: AsyncSession) -> bool:
        run = await run_service.get(session=session, run_id=self.run_id)
        return run.attempt == self.attempt and run.status is RunStatus.CANCELLING

    async def finish(self, status: RunStatus, values: dict[str, Any]) -> None:
        payload = {"status": status.value, "attempt": self.attempt, **values}
        async with session_scope(self.settings) as session:
            run = await run_service.finish(
                session=session,
                run_id=self.run_id,
                attempt=self.attempt,
                status=status,
                values=values,
            )
            if run is None:
                logger.warning("run %s: not ours to finish any more", self.run_id)
                return
            stored = await event_service.append(
                session=session,
                run_id=self.run_id,
                kind="run_finished",
                stage=None,
                payload=payload,
            )
        await publish_changes(self.settings, run, [stored])


async def _claim(settings: Settings, run_id: str, worker_id: str) -> Run | None:
    async with session_scope(settings) as session:
        run = await run_service.claim(session=session, run_id=run_id, worker_id=worker_id)
    if run is not None:
        await publish_changes(settings, run, [])
    return run


async def _load_definition(settings: Settings, run: Run) -> tuple[PipelineVersion, Source]:
    """The pipeline as it was when the run was triggered, and its source."""
    async with session_scope(settings) as session:
        versions = await pipeline_service.versions(session=session, pipeline_id=run.pipeline_id)
        version = next(v for v in versions if v.version == run.pipeline_version)
        source = await source_service.get(session=session, source_id=version.source_id)
        return version, source


async def _execute(settings: Settings, run: Run, recorder: RunRecorder) -> LoadResult:
    version, source = await _load_definition(settings, run)
    spec = parse_spec(version.spec)
    config = parse_source(
        source.kind, source.uri, source.options, SourcePolicy.from_settings(settings)
    )
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        return await run_pipeline(
            source=config,
            spec=spec,
            warehouse=warehouse,
            run_id=run.id,
            emit=recorder.emit,
            batch_rows=settings.etl_batch_rows,
        )
    finally:
        await warehouse.close()


def _counts(result: LoadResult) -> dict[str, Any]:
    return {key: getattr(result, key) for key in _COUNTERS}


async def execute_run(*, settings: Settings, run_id: str, worker_id: str) -> RunStatus | None:
    """Run it to a terminal status; None when the run was not ours to take or to end."""
    run = await _claim(settings, run_id, worker_id)
    if run is None:
        logger.info("run %s is not queued; nothing to do", run_id)
        return None
    recorder = RunRecorder(settings, run)
    try:
        await recorder.emit("run_started", None, {"attempt": run.attempt, "worker": worker_id})
        result = await _execute(settings, run, recorder)
    except RunInterrupted as stop:
        if not stop.cancelled:
            logger.warning("run %s: lost to another worker; stopping without writes", run_id)
            return None
        # The engine aborted the load: the warehouse is as it was before the run.
        await recorder.finish(RunStatus.CANCELLED, {})
        return RunStatus.CANCELLED
    except DataFlowError as error:
        logger.info("run %s failed: %s", run_id, error)
        values = {"error_code": error.code, "error_message": error.message}
        await recorder.finish(RunStatus.FAILED, values)
        return RunStatus.FAILED
    except Exception:
        logger.exception("run %s failed unexpectedly", run_id)
        values = {"error_code": "INTERNAL_ERROR", "error_message": "internal error; see logs"}
        await recorder.finish(RunStatus.FAILED, values)
        return RunStatus.FAILED
    await recorder.finish(RunStatus.SUCCEEDED, _counts(result))
    return RunStatus.SUCCEEDED
