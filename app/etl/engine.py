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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from app.errors import DataFlowError, Transient
from app.etl.batches import BatchProcessor
from app.etl.blocking import run_blocking
from app.etl.contract import check_reject_ratio
from app.etl.join_sides import read_join_sides
from app.etl.partitions import window_of
from app.etl.sources.reader import ROW_COLUMN, SOURCE_COLUMN, ReadContext, Watermark, open_reader
from app.etl.step_base import StepContext
from app.etl.steps_table import LimitStep
from app.etl.streaming import QUEUE_DEPTH, stream_batches
from app.etl.transform import split_stages
from app.etl.validation import validate_against_schema
from app.etl.warehouse.protocol import LoadOptions, StoredWatermark

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from app.etl.sources import SourceConfig
    from app.etl.spec import PipelineSpec
    from app.etl.streaming import Counters
    from app.etl.warehouse import LoadTotals, TableLoad, Warehouse
    from app.etl.warehouse.protocol import PartitionWindow

__all__ = ["QUEUE_DEPTH", "EventSink", "LoadResult", "discard_run", "run_pipeline"]

logger = logging.getLogger(__name__)

EventSink = Callable[[str, str, dict[str, Any]], Awaitable[None]]
"""Receives (kind, stage, payload), e.g. ("progress", "load", {"rows_written": 10})."""

Retryable = Callable[[BaseException], bool]


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


async def run_pipeline(
    *,
    source: SourceConfig,
    spec: PipelineSpec,
    warehouse: Warehouse,
    run_id: str,
    emit: EventSink,
    batch_rows: int = 100_000,
    params: Mapping[str, Any] | None = None,
    pipeline_id: str | None = None,
    attempt: int = 1,
    join_sources: Mapping[str, SourceConfig] | None = None,
    retryable: Retryable | None = None,
    backfill: bool = False,
) -> LoadResult:
    """Load `source` through `spec` into the warehouse: all of it, or on failure nothing.

    Raises the DataFlowError behind a failure (SOURCE_MALFORMED, CONTRACT_VIOLATION...)
    after the load was undone, so the table is exactly as before. When `retryable(error)`
    says a retry may help (default: the error is Transient), the batches committed so far
    are kept for the next attempt of the same `run_id` to resume from; otherwise they are
    discarded. Call `discard_run` for a run that will not be retried after all.

    A `backfill` run ignores the incremental watermark and leaves it where it was.
    """
    destination = spec.destination
    window = (
        window_of(destination.partition_column, params or {})
        if destination.mode == "replace_partition" and destination.partition_column
        else None
    )
    await emit("stage_started", "extract", {})
    await emit("stage_started", "transform", {})
    await emit("stage_started", "load", {"table": destination.table, "mode": destination.mode})
    load = await warehouse.begin_load(
        table=destination.table,
        mode=destination.mode,
        run_id=run_id,
        options=load_options(spec, pipeline_id or "", attempt, backfill=backfill, window=window),
    )
    if load.applied is not None:
        # An earlier attempt applied this run; applying it again would duplicate it.
        result = _result(load.applied, 0)
    else:
        try:
            result = await _load(
                load,
                source,
                spec,
                warehouse,
                emit,
                _Run(batch_rows, params or {}, join_sources or {}, not backfill, window),
            )
        except BaseException as error:
            await _release(load, error, retryable, run_id)
            raise
    await emit("stage_finished", "load", {"rows_written": result.rows_written})
    return result


@dataclass(frozen=True)
class _Run:
    """What one run adds to the spec: its batch size, params, joined sources, whether
    it follows the watermark (a backfill does not) and its partition window."""

    batch_rows: int
    params: Mapping[str, Any]
    join_sources: Mapping[str, SourceConfig]
    incremental: bool
    window: PartitionWindow | None


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


async def _load(
    load: TableLoad,
    source: SourceConfig,
    spec: PipelineSpec,
    warehouse: Warehouse,
    emit: EventSink,
    run: _Run,
) -> LoadResult:
    watermark = _watermark(spec, load) if run.incremental else None
    reader = open_reader(source, ReadContext(params=run.params, watermark=watermark))
    try:
        schema = await reader.schema()
        sides = await read_join_sides(spec, warehouse, run.join_sources, run.params)
        join_schemas = {side: frame.collect_schema() for side, frame in sides.items()}
        # A step that names a missing column fails here, before anything is loaded.
        validate_against_schema(spec, schema, join_schemas=join_schemas)
        batches = reader.batches(run.batch_rows)
        counters = await _drive(batches, _empty(schema), spec, load, emit, sides, run)
    finally:
        await reader.aclose()
    check_reject_ratio(spec.contract, counters.rows_read, counters.rows_rejected)
    await emit("stage_finished", "extract", {"rows_read": counters.rows_read})
    await emit(
        "stage_finished",
        "transform",
        {"rows_filtered": counters.rows_filtered, "rows_rejected": counters.rows_rejected},
    )
    totals = await load.commit()
    return _result(totals, counters.batches_resumed)


async def _drive(
    batches: AsyncIterator[pl.DataFrame],
    empty: pl.DataFrame,
    spec: PipelineSpec,
    load: TableLoad,
    emit: EventSink,
    sides: Mapping[str, pl.LazyFrame],
    run: _Run,
) -> Counters:
    """Stream when every step is row-wise (or only a trailing limit is not); else spill."""
    head, tail = split_stages(spec.steps)
    context = StepContext(sides=sides)
    read_from = _watermark(spec, load) if run.incremental else None
    watermark = StoredWatermark(read_from.column, read_from.value) if read_from else None
    processor = BatchProcessor(
        spec, steps=head, context=context, watermark=watermark, window=run.window
    )
    if not tail or (len(tail) == 1 and isinstance(tail[0], LimitStep)):
        limit = tail[0].limit if tail and isinstance(tail[0], LimitStep) else None
        return await stream_batches(batches, empty, processor, load, emit, limit=limit)
    return await run_blocking(
        batches,
        empty,
        processor,
        load,
        emit,
        tail=tail,
        offset=len(head),
        context=context,
        batch_rows=run.batch_rows,
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


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, DataFlowError):
        return isinstance(error, Transient)
    return isinstance(error, (ConnectionError, TimeoutError))


async def _release(
    load: TableLoad, error: BaseException, retryable: Retryable | None, run_id: str
) -> None:
    """Keep committed batches for a retry, or undo everything; the error that caused it
    stays the one raised (a failure here is logged)."""
    keep = isinstance(error, Exception) and (retryable or _is_transient)(error)
    try:
        if keep:
            await load.suspend()
        else:
            await load.abort(keep_rejects=getattr(error, "keep_rejects", False))
    except Exception:
        logger.exception("run %s: releasing the load failed", run_id)


async def discard_run(warehouse: Warehouse, run_id: str, attempt: int) -> None:
    """Remove what an unfinished run left in the warehouse (staging, ledger, rejects),
    unless a later attempt than `attempt` owns its load."""
    await warehouse.discard_run(run_id, attempt=attempt)
