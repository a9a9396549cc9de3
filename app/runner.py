"""Executing one run: claim it, drive the ETL engine, record every event, finish it.

Called by the Dramatiq actor with only the run id. Every write is fenced on the run's
attempt, so a worker that lost its run can change nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import col, select

from app.db import session_scope
from app.errors import DataFlowError
from app.etl.engine import LoadResult, run_pipeline
from app.etl.sources import parse_source
from app.etl.spec import parse_spec
from app.etl.warehouse import open_warehouse
from app.events import event_to_message, get_event_bus
from app.models.run import Run, RunEvent, RunStatus
from app.services import pipelines as pipeline_service
from app.services import run_events as event_service
from app.services import runs as run_service
from app.services import sources as source_service

if TYPE_CHECKING:
    from app.config import Settings
    from app.models.pipeline import Pipeline
    from app.models.source import Source

logger = logging.getLogger(__name__)

_COUNTERS = ("rows_read", "rows_written", "rows_rejected", "rows_filtered")


class LeaseLost(Exception):
    """Another worker owns the run now; this one must stop without writing."""


class RunRecorder:
    """Writes a run's events and its progress columns in one transaction each, then
    publishes the event. Knows the previous event id so subscribers can detect gaps."""

    def __init__(self, settings: Settings, run: Run, previous_id: int) -> None:
        self.settings = settings
        self.run_id = run.id
        self.attempt = run.attempt
        self.previous_id = previous_id

    async def emit(self, kind: str, stage: str | None, payload: dict[str, Any]) -> None:
        values: dict[str, Any] = {key: payload[key] for key in _COUNTERS if key in payload}
        if stage is not None and kind in {"stage_started", "progress"}:
            values["stage"] = stage
        async with session_scope(self.settings) as session:
            if not await run_service.record_progress(
                session=session, run_id=self.run_id, attempt=self.attempt, values=values
            ):
                raise LeaseLost(self.run_id)
            event = await event_service.append(
                session=session, run_id=self.run_id, kind=kind, stage=stage, payload=payload
            )
        await self._publish(event)

    async def finish(self, status: RunStatus, values: dict[str, Any]) -> None:
        payload = {"status": status.value, **values}
        async with session_scope(self.settings) as session:
            if not await run_service.finish(
                session=session,
                run_id=self.run_id,
                attempt=self.attempt,
                status=status,
                values=values,
            ):
                raise LeaseLost(self.run_id)
            event = await event_service.append(
                session=session,
                run_id=self.run_id,
                kind="run_finished",
                stage=None,
                payload=payload,
            )
        await self._publish(event)

    async def _publish(self, event: RunEvent) -> None:
        assert event.id is not None
        message = {**event_to_message(event), "previous_id": self.previous_id}
        self.previous_id = event.id
        try:
            await get_event_bus(self.settings).publish(self.run_id, message)
        except Exception:
            # Subscribers recover from the log; a broken fan-out must not fail the run.
            logger.warning("could not publish event %s of run %s", event.id, self.run_id)


async def _claim(settings: Settings, run_id: str, worker_id: str) -> tuple[Run, int] | None:
    async with session_scope(settings) as session:
        run = await run_service.claim(session=session, run_id=run_id, worker_id=worker_id)
        if run is None:
            return None
        latest = await session.exec(
            select(func.max(col(RunEvent.id))).where(RunEvent.run_id == run_id)
        )
        return run, latest.one() or 0


async def _load_definition(settings: Settings, run: Run) -> tuple[Pipeline, Source]:
    async with session_scope(settings) as session:
        pipeline = await pipeline_service.get(session=session, pipeline_id=run.pipeline_id)
        source = await source_service.get(session=session, source_id=pipeline.source_id)
        return pipeline, source


async def _execute(settings: Settings, run: Run, recorder: RunRecorder) -> LoadResult:
    pipeline, source = await _load_definition(settings, run)
    spec = parse_spec(pipeline.spec)
    config = parse_source(source.kind, source.uri, source.options, settings.allowed_file_roots)
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        return await run_pipeline(
            source=config, spec=spec, warehouse=warehouse, run_id=run.id, emit=recorder.emit
        )
    finally:
        await warehouse.close()


def _counts(result: LoadResult) -> dict[str, Any]:
    return {key: getattr(result, key) for key in _COUNTERS}


async def execute_run(*, settings: Settings, run_id: str, worker_id: str) -> RunStatus | None:
    """Run it to a terminal status; None when the run was not ours to take."""
    claimed = await _claim(settings, run_id, worker_id)
    if claimed is None:
        logger.info("run %s is not queued; nothing to do", run_id)
        return None
    run, previous_id = claimed
    recorder = RunRecorder(settings, run, previous_id)
    try:
        await recorder.emit("run_started", None, {"attempt": run.attempt, "worker": worker_id})
        result = await _execute(settings, run, recorder)
    except LeaseLost:
        logger.warning("run %s: lease lost, stopping without further writes", run_id)
        return None
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
