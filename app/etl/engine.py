"""The ETL entry point: stream a source through the steps into a warehouse table.

A run loads in two phases. Batches commit one by one into the run's staging table,
each recorded in the warehouse's batch ledger under (run, batch); then one transaction
applies the run to the table (append, replace or merge) and moves the incremental
watermark. Readers see the whole run or nothing of it. A run retried after a transient
failure (same run id, a higher attempt) skips the batches already committed; a run that
was applied already is not applied again.

A backfill run is exact: it neither reads nor moves the incremental watermark (it
loads its partition, however old), and in mode replace_partition it replaces the rows
of its window `[partition_start, partition_end)`, rejecting rows it read outside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from app.etl.batches import BatchProcessor
from app.etl.blocking import run_blocking
from app.etl.context import DriveContext, EventSink, RunContext, StepPlan
from app.etl.contract import check_reject_ratio
from app.etl.join_sides import read_join_sides
from app.etl.partitions import window_of
from app.etl.sources.reader import (
    ROW_COLUMN,
    SOURCE_COLUMN,
    ReadContext,
    SourceReader,
    Watermark,
    open_reader,
)
from app.etl.step_base import StepContext
from app.etl.streaming import QUEUE_DEPTH, stream_batches
from app.etl.transform import split_stages
from app.etl.validation import validate_against_schema
from app.etl.warehouse.protocol import LoadOptions, StoredWatermark
from app.event_types import Stage, StageFinished, StageStarted

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from app.etl.spec import PipelineSpec
    from app.etl.streaming import Counters
    from app.etl.warehouse import LoadTotals, TableLoad, Warehouse
    from app.etl.warehouse.protocol import PartitionWindow

__all__ = ["QUEUE_DEPTH", "EventSink", "LoadResult", "RunContext", "discard_run", "run_pipeline"]

logger = logging.getLogger(__name__)


@dataclass
class LoadResult:
    """What a run did: rows_read = rows_written + rows_rejected + rows_filtered.

    rows_filtered is what the steps (and the incremental watermark) removed, net: an
    aggregate counts its input rows less its groups; a flatten that explodes lists adds
    rows, which counts against it.
    """

    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_filtered: int = 0
    batches: int = 0
    batches_resumed: int = 0
    watermark: Any = None
    """The incremental watermark after the run (None without `incremental`)."""


async def run_pipeline(run: RunContext, warehouse: Warehouse) -> LoadResult:
    """Load the run's source through its spec into the warehouse: all of it, or on
    failure nothing.

    Raises the DataFlowError behind a failure (SOURCE_MALFORMED, CONTRACT_VIOLATION...)
    after the load was undone, so the table is exactly as before. When
    `run.retryable(error)` says a retry may help (default: `app.faults.is_transient`),
    the batches committed so far are kept for the next attempt of the same run id to
    resume from; otherwise they are discarded. Call `discard_run` for a run that will
    not be retried after all.

    A backfill run ignores the incremental watermark and leaves it where it was.
    """
    await _announce_stages(run)
    load = await _begin_load(run, warehouse)
    if load.applied is not None:
        # An earlier attempt applied this run; applying it again would duplicate it.
        result = _result(load.applied, 0)
    else:
        try:
            result = await _load(run, warehouse, load)
        except BaseException as error:
            await _release(load, error, run)
            raise
    await run.events(StageFinished(stage=Stage.LOAD, rows_written=result.rows_written))
    return result


async def _announce_stages(run: RunContext) -> None:
    """The three stages overlap (batches stream through all of them), so all start now."""
    destination = run.spec.destination
    await run.events(StageStarted(stage=Stage.EXTRACT))
    await run.events(StageStarted(stage=Stage.TRANSFORM))
    await run.events(StageStarted(stage=Stage.LOAD, table=destination.table, mode=destination.mode))


async def _begin_load(run: RunContext, warehouse: Warehouse) -> TableLoad:
    destination = run.spec.destination
    return await warehouse.begin_load(
        table=destination.table,
        mode=destination.mode,
        run_id=run.run_id,
        options=load_options(
            run.spec, run.pipeline_id, run.attempt, backfill=run.backfill, window=_window(run)
        ),
    )


def _window(run: RunContext) -> PartitionWindow | None:
    """The slice of the table a replace_partition run owns, from its params."""
    destination = run.spec.destination
    if destination.mode != "replace_partition" or not destination.partition_column:
        return None
    return window_of(destination.partition_column, run.params)


def load_options(
    spec: PipelineSpec,
    pipeline: str,
    attempt: int,
    *,
    backfill: bool = False,
    window: PartitionWindow | None = None,
) -> LoadOptions:
    contract = spec.contract
    return LoadOptions(
        keys=tuple(spec.destination.keys or ()),
        order_by=spec.destination.order_by,
        new_columns=contract.new_columns if contract else "evolve",
        declared=contract.declared() if contract else {},
        pipeline=pipeline,
        # Without a cursor the apply leaves the watermark alone: a backfill's old
        # partition must not move it, nor may it be filtered by it.
        cursor=spec.incremental.cursor if spec.incremental and not backfill else None,
        attempt=attempt,
        partition=window,
    )


async def _load(run: RunContext, warehouse: Warehouse, load: TableLoad) -> LoadResult:
    spec = run.spec
    watermark = _watermark(spec, load) if not run.backfill else None
    reader = open_reader(run.source, ReadContext(params=run.params, watermark=watermark))
    try:
        drive = await _prepare(run, warehouse, load, reader, watermark)
        counters = await _drive(reader.batches(run.batch_rows), drive)
    finally:
        await reader.aclose()
    check_reject_ratio(spec.contract, counters.rows_read, counters.rows_rejected)
    await _finish_stages(run, counters)
    totals = await load.commit()
    return _result(totals, counters.batches_resumed)


async def _prepare(
    run: RunContext,
    warehouse: Warehouse,
    load: TableLoad,
    reader: SourceReader,
    watermark: Watermark | None,
) -> DriveContext:
    """Everything the batches need, checked against the source's columns first: a step
    that names a missing column fails here, before anything is loaded."""
    spec = run.spec
    schema = await reader.schema()
    sides = await read_join_sides(spec, warehouse, run.join_sources, run.params)
    join_schemas = {side: frame.collect_schema() for side, frame in sides.items()}
    validate_against_schema(spec, schema, join_schemas=join_schemas)
    head, tail = split_stages(spec.steps)
    plan = StepPlan(head=head, tail=tail, context=StepContext(sides=sides))
    processor = BatchProcessor(
        spec,
        steps=head,
        context=plan.context,
        watermark=StoredWatermark(watermark.column, watermark.value) if watermark else None,
        window=_window(run),
    )
    return DriveContext(run=run, load=load, processor=processor, plan=plan, empty=_empty(schema))


async def _drive(batches: AsyncIterator[pl.DataFrame], drive: DriveContext) -> Counters:
    """Stream when every step is row-wise (or only a trailing limit is not); else spill."""
    if drive.plan.streams:
        return await stream_batches(batches, drive)
    return await run_blocking(batches, drive)


async def _finish_stages(run: RunContext, counters: Counters) -> None:
    await run.events(StageFinished(stage=Stage.EXTRACT, rows_read=counters.rows_read))
    await run.events(
        StageFinished(
            stage=Stage.TRANSFORM,
            rows_filtered=counters.rows_filtered,
            rows_rejected=counters.rows_rejected,
        )
    )


def _watermark(spec: PipelineSpec, load: TableLoad) -> Watermark | None:
    """Where a run reads from: the stored watermark less the spec's lookback, when it is
    for the cursor the spec names now (the stored one never moves back)."""
    stored = load.watermark
    if spec.incremental is None or stored is None or stored.column != spec.incremental.cursor:
        return None
    return Watermark(stored.column, spec.incremental.behind(stored.value))


def _empty(schema: pl.Schema) -> pl.DataFrame:
    """A batch with no rows: a source with none still gives the table its columns."""
    return pl.DataFrame(schema={**schema, SOURCE_COLUMN: pl.String(), ROW_COLUMN: pl.Int64()})


def _result(totals: LoadTotals, resumed: int) -> LoadResult:
    return LoadResult(
        rows_read=totals.rows_read,
        rows_written=totals.rows_written,
        rows_rejected=totals.rows_rejected,
        rows_filtered=totals.rows_filtered,
        batches=totals.batches,
        batches_resumed=resumed,
        watermark=totals.watermark,
    )


async def _release(load: TableLoad, error: BaseException, run: RunContext) -> None:
    """Keep committed batches for a retry, or undo everything; the error that caused it
    stays the one raised (a failure here is logged)."""
    keep = isinstance(error, Exception) and run.retryable(error)
    try:
        if keep:
            await load.suspend()
        else:
            await load.abort(keep_rejects=getattr(error, "keep_rejects", False))
    except Exception:
        logger.exception("run %s: releasing the load failed", run.run_id)


async def discard_run(warehouse: Warehouse, run_id: str, attempt: int) -> None:
    """Remove what an unfinished run left in the warehouse (staging, ledger, rejects),
    unless a later attempt than `attempt` owns its load."""
    await warehouse.discard_run(run_id, attempt=attempt)
