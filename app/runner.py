"""Executing one run: claim it, drive the ETL engine, record every event, finish it.

Called by the Dramatiq actor with only the run id. Every write is fenced on the run's
attempt, so a worker that lost its run can change nothing. The lease is renewed while
the run works; a cancel is noticed at the next progress write (at most every
`run_progress_seconds`, between batches, and always before the load commits); a
transient failure hands the run back for its next attempt after a backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from app.analytics.hooks import after_successful_load
from app.db import session_scope
from app.errors import DataFlowError, RunTakenAway
from app.etl.engine import LoadResult, RunContext, discard_run, run_pipeline
from app.etl.progress import SampledProgress
from app.etl.sources import parse_source
from app.etl.sources.policy import SourcePolicy
from app.etl.spec import PipelineSpec, parse_spec
from app.etl.steps_table import JoinStep
from app.etl.warehouse import open_warehouse
from app.event_types import STAGE_EVENTS, RunFinished, RunRetrying, RunStarted, StageFinished
from app.events import publish_changes
from app.faults import error_code, error_message, is_transient
from app.models.base import utcnow
from app.models.pipeline import Pipeline
from app.models.run import Run, RunStatus
from app.services import leases
from app.services import pipelines as pipeline_service
from app.services import run_events as event_service
from app.services import runs as run_service
from app.services import sources as source_service

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.config import Settings
    from app.etl.sources import SourceConfig
    from app.event_types import Event
    from app.models.pipeline_version import PipelineVersion
    from app.models.source import Source

logger = logging.getLogger(__name__)

# Hands a run (back) to the queue, to be looked at after a delay in seconds.
Enqueue = Callable[[str, float], Awaitable[None]]

T = TypeVar("T")

_COUNTERS = ("rows_read", "rows_written", "rows_rejected", "rows_filtered")
# What a run's end writes on the run itself (besides its status): its error or counts.
_FINAL = ("error_code", "error_message", *_COUNTERS)


class _CancelNoticed(Exception):
    """The run was cancelled: the engine stops between batches and undoes its load."""


class RunTimedOut(DataFlowError):
    code = "RUN_TIMEOUT"


class RunRecorder:
    """Writes a run's events and progress columns in one transaction each, publishes
    them after the commit, and stops the run when it was cancelled or taken over."""

    def __init__(self, settings: Settings, run: Run) -> None:
        self.settings = settings
        self.run_id = run.id
        self.attempt = run.attempt

    async def emit(self, event: Event) -> None:
        payload = event.to_payload()
        values: dict[str, Any] = {key: payload[key] for key in _COUNTERS if key in payload}
        if event.stage is not None and isinstance(event, STAGE_EVENTS):
            values["stage"] = event.stage.value
        # Once the load has committed, a late cancel cannot undo it: record the end.
        committed = isinstance(event, StageFinished) and event.load_committed
        async with session_scope(self.settings) as session:
            run = await run_service.record_progress(
                session=session,
                run_id=self.run_id,
                attempt=self.attempt,
                values={**values, "lease_expires_at": leases.lease_until(self.settings)},
                while_cancelling=committed,
            )
            if run is None:
                raise await self._why_stopped(session)
            stored = await event_service.append(session=session, run_id=self.run_id, event=event)
        await publish_changes(self.settings, run, [stored])

    async def _why_stopped(self, session: AsyncSession) -> Exception:
        if await self._cancelled(session):
            return _CancelNoticed(self.run_id)
        return RunTakenAway(f"run {self.run_id}: attempt {self.attempt} no longer holds it")

    async def _cancelled(self, session: AsyncSession) -> bool:
        run = await run_service.get(session=session, run_id=self.run_id)
        return run.attempt == self.attempt and run.status is RunStatus.CANCELLING

    async def finish(self, event: RunFinished) -> bool:
        """End the run as `event` says; False when it was not this attempt's to end any more."""
        return await _once_more_if_transient(lambda: self._finish(event))

    async def _finish(self, event: RunFinished) -> bool:
        values = {key: value for key, value in event.to_payload().items() if key in _FINAL}
        async with session_scope(self.settings) as session:
            run = await run_service.finish(
                session=session,
                run_id=self.run_id,
                attempt=self.attempt,
                status=RunStatus(event.status),
                values=values,
            )
            if run is None:
                logger.warning("run %s: not ours to finish any more", self.run_id)
                return False
            stored = await event_service.append(session=session, run_id=self.run_id, event=event)
        await publish_changes(self.settings, run, [stored])
        return True

    async def retry_later(self, error: BaseException) -> float | None:
        """Back to QUEUED as the next attempt; the delay before it may run, or None."""
        return await _once_more_if_transient(lambda: self._retry_later(error))

    async def _retry_later(self, error: BaseException) -> float | None:
        code, message = error_code(error), error_message(error)
        async with session_scope(self.settings) as session:
            run = await leases.requeue(
                session=session,
                settings=self.settings,
                run_id=self.run_id,
                attempt=self.attempt,
                error_code=code,
                error_message=message,
            )
            if run is None:
                return None
            event = RunRetrying(attempt=run.attempt, reason=code, message=message)
            stored = await event_service.append(session=session, run_id=self.run_id, event=event)
        await publish_changes(self.settings, run, [stored])
        assert run.not_before is not None
        return max(0.0, (run.not_before - utcnow()).total_seconds())


# One fixed pause, not a backoff (there is no third try): long enough for the pool to
# notice its dead connections and open a fresh one.
_SECOND_TRY_PAUSE = 0.5


async def _once_more_if_transient(write: Callable[[], Awaitable[T]]) -> T:
    """A run's final write is worth a second try: the failure that ended the run (a
    restarted database) has often already dropped the pooled connection it would use.
    If it fails again, the lease expires and the reaper settles the run."""
    try:
        return await write()
    except Exception as error:
        if not is_transient(error):
            raise
        logger.warning("metadata write failed (%s); trying once more", error)
        await asyncio.sleep(_SECOND_TRY_PAUSE)
        return await write()


async def _claim(settings: Settings, run_id: str, worker_id: str, enqueue: Enqueue) -> Run | None:
    async with session_scope(settings) as session:
        claim = await leases.claim(
            session=session, settings=settings, run_id=run_id, worker_id=worker_id
        )
    if claim.run is not None:
        await publish_changes(settings, claim.run, [])
    elif claim.retry_at is not None:
        # No free slot yet, or still backing off: look again later.
        await enqueue(run_id, max(0.0, (claim.retry_at - utcnow()).total_seconds()))
    return claim.run


@dataclass(frozen=True)
class _Definition:
    """What a run runs: its pipeline, the pipeline's version (the spec as it was when the
    run was triggered) and that version's source."""

    pipeline: Pipeline
    version: PipelineVersion
    source: Source


async def _definition(settings: Settings, run: Run) -> _Definition:
    """The run's definition, read once when the run starts."""
    async with session_scope(settings) as session:
        pipeline = await session.get(Pipeline, run.pipeline_id)
        assert pipeline is not None  # runs keep their pipeline: deletes are soft
        versions = await pipeline_service.versions(session=session, pipeline_id=pipeline.id)
        version = next(v for v in versions if v.version == run.pipeline_version)
        source = await source_service.get(session=session, source_id=version.source_id)
        return _Definition(pipeline, version, source)


async def _join_sources(
    settings: Settings, spec: PipelineSpec, policy: SourcePolicy
) -> dict[str, SourceConfig]:
    """The registered sources the spec's join steps name, by name."""
    names = {
        step.join.source for step in spec.steps if isinstance(step, JoinStep) and step.join.source
    }
    found: dict[str, SourceConfig] = {}
    async with session_scope(settings) as session:
        for name in names:
            source = await source_service.get_by_name(session=session, name=name)
            if source is not None:
                found[name] = parse_source(source.kind, source.uri, source.options, policy)
    return found


async def _load(
    settings: Settings, run: Run, definition: _Definition, recorder: RunRecorder
) -> LoadResult:
    spec, source = parse_spec(definition.version.spec), definition.source
    max_attempts = definition.pipeline.max_attempts
    policy = SourcePolicy.from_settings(settings)
    context = RunContext(
        run_id=run.id,
        spec=spec,
        source=parse_source(source.kind, source.uri, source.options, policy),
        events=SampledProgress(recorder.emit, settings.run_progress_seconds),
        attempt=run.attempt,
        pipeline_id=run.pipeline_id,
        params=run.params,
        join_sources=await _join_sources(settings, spec, policy),
        batch_rows=settings.etl_batch_rows,
        backfill=run.backfill_id is not None,
        # Committed batches are kept only when this run will get another attempt.
        retryable=lambda error: is_transient(error) and run.attempt < max_attempts,
    )
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        return await run_pipeline(context, warehouse)
    finally:
        await warehouse.close()


async def discard_staging(settings: Settings, run_id: str, attempt: int) -> None:
    """Remove what an ended run left behind in the warehouse (staging, ledger); a run
    that will not resume must not leave its staged batches. Fenced on `attempt`: a
    later attempt's staging is never this one's to remove."""
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        await discard_run(warehouse, run_id, attempt)
    except Exception:
        logger.warning("run %s: could not clear its staging data", run_id, exc_info=True)
    finally:
        await warehouse.close()


async def _keep_lease(settings: Settings, run: Run, work: asyncio.Task[Any]) -> None:
    """Renew the lease every third of it; stop the work if the run was taken away."""
    interval = settings.run_lease_seconds / 3
    while not work.done():
        await asyncio.sleep(interval)
        try:
            async with session_scope(settings) as session:
                held = await leases.renew(
                    session=session, settings=settings, run_id=run.id, attempt=run.attempt
                )
        except Exception:
            logger.warning("run %s: could not renew the lease; trying again", run.id)
            continue
        if not held:
            logger.warning("run %s: the lease was taken back; stopping", run.id)
            work.cancel()
            return


async def _supervised(
    settings: Settings, run: Run, definition: _Definition, recorder: RunRecorder
) -> LoadResult:
    """The load, under the pipeline's timeout and the run's lease."""
    await recorder.emit(RunStarted(attempt=run.attempt, worker=run.worker_id or ""))
    pipeline = definition.pipeline
    work = asyncio.create_task(_load(settings, run, definition, recorder))
    keeper = asyncio.create_task(_keep_lease(settings, run, work))
    try:
        done, _ = await asyncio.wait({work}, timeout=pipeline.timeout_seconds)
        if not done:
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            limit = pipeline.timeout_seconds
            raise RunTimedOut(f"the run took longer than the pipeline's timeout of {limit} s")
        if work.cancelled():
            raise RunTakenAway(f"run {run.id}: the lease of attempt {run.attempt} was taken back")
        return work.result()
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)


async def _failed(
    recorder: RunRecorder, run: Run, max_attempts: int, error: Exception, enqueue: Enqueue
) -> RunStatus | None:
    """Transient and attempts left: back to the queue. Otherwise FAILED, with its code."""
    if is_transient(error) and run.attempt < max_attempts:
        logger.warning(
            "run %s attempt %s: transient failure, retrying: %s", run.id, run.attempt, error
        )
        delay = await recorder.retry_later(error)
        if delay is None:
            return None
        await enqueue(run.id, delay)
        return RunStatus.QUEUED
    if isinstance(error, DataFlowError):
        logger.info("run %s failed: %s", run.id, error)
    else:
        logger.error("run %s failed", run.id, exc_info=error)
    failed = RunFinished(
        status=RunStatus.FAILED.value,
        attempt=run.attempt,
        error_code=error_code(error),
        error_message=error_message(error),
    )
    if not await recorder.finish(failed):
        return None  # another attempt owns the run now: its staging is not ours
    await discard_staging(recorder.settings, run.id, run.attempt)
    return RunStatus.FAILED


async def execute_run(
    *, settings: Settings, run_id: str, worker_id: str, enqueue: Enqueue
) -> RunStatus | None:
    """Run it to its end, or hand it back for a retry; the status it was left in, or
    None when it was not (or no longer) this worker's."""
    run = await _claim(settings, run_id, worker_id, enqueue)
    if run is None:
        return None
    recorder = RunRecorder(settings, run)
    try:
        definition = await _definition(settings, run)
    except Exception as error:  # its source was deleted, or the database is away
        return await _failed(recorder, run, run.attempt + 1, error, enqueue)
    try:
        result = await _supervised(settings, run, definition, recorder)
    except RunTakenAway as lost:
        logger.warning("%s; stopping without writes", lost.message)
        return None
    except _CancelNoticed:
        return await _end_cancelled(recorder, run)
    except Exception as error:
        return await _failed(recorder, run, definition.pipeline.max_attempts, error, enqueue)
    await _refresh_analytics(settings, definition.pipeline, definition.version)
    await recorder.finish(_succeeded(run, result))
    return RunStatus.SUCCEEDED


def _succeeded(run: Run, result: LoadResult) -> RunFinished:
    return RunFinished(
        status=RunStatus.SUCCEEDED.value,
        attempt=run.attempt,
        rows_read=result.rows_read,
        rows_written=result.rows_written,
        rows_rejected=result.rows_rejected,
        rows_filtered=result.rows_filtered,
    )


async def _end_cancelled(recorder: RunRecorder, run: Run) -> RunStatus | None:
    """The engine aborted the load: the warehouse is as it was before the run."""
    if not await recorder.finish(
        RunFinished(status=RunStatus.CANCELLED.value, attempt=run.attempt)
    ):
        return None
    await discard_staging(recorder.settings, run.id, run.attempt)
    return RunStatus.CANCELLED


async def _refresh_analytics(
    settings: Settings, pipeline: Pipeline, version: PipelineVersion
) -> None:
    """A dataset's new version and replica. A failure here is logged, not the run's:
    the data is loaded; the next successful load refreshes the dataset again."""
    spec = parse_spec(version.spec)
    try:
        await after_successful_load(
            settings,
            pipeline_id=pipeline.id,
            pipeline_name=pipeline.name,
            spec=version.spec,
            table=spec.destination.table,
        )
    except Exception:
        logger.exception("run of %s: refreshing its dataset failed", pipeline.name)
