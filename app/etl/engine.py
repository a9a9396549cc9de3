"""The ETL entry point: stream a source through the steps into a warehouse table."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from app.etl.sources.csv import iter_csv_batches, read_csv_schema
from app.etl.spec import validate_against_schema
from app.etl.transform import compile_steps, run_transform

if TYPE_CHECKING:
    from collections.abc import Generator, Sequence

    from app.etl.sources import SourceConfig
    from app.etl.spec import PipelineSpec, Step
    from app.etl.warehouse import TableLoad, Warehouse

logger = logging.getLogger(__name__)

EventSink = Callable[[str, str, dict[str, Any]], Awaitable[None]]
"""Receives (kind, stage, payload), e.g. ("progress", "load", {"rows_written": 10})."""

# Batches parsed ahead of the one being written: enough to keep the warehouse busy,
# few enough that memory stays a handful of batches whatever the file size.
QUEUE_DEPTH = 2

_T = TypeVar("_T")


@dataclass
class LoadResult:
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_filtered: int = 0


@dataclass(frozen=True, slots=True)
class _Batch:
    frame: pl.DataFrame
    rows_read: int


@dataclass(frozen=True, slots=True)
class _End:
    error: BaseException | None = None


async def run_pipeline(
    *,
    source: SourceConfig,
    spec: PipelineSpec,
    warehouse: Warehouse,
    run_id: str,
    emit: EventSink,
    batch_rows: int = 100_000,
) -> LoadResult:
    """Load `source` through `spec` into the warehouse; all of it, or on failure nothing.

    Raises the DataFlowError behind a failure (SOURCE_MALFORMED, TRANSFORM_FAILED, ...)
    after the load was aborted, so the table is exactly as before.
    """
    destination = spec.destination
    await emit("stage_started", "extract", {})
    await emit("stage_started", "transform", {})
    await emit("stage_started", "load", {"table": destination.table, "mode": destination.mode})
    schema = await asyncio.to_thread(read_csv_schema, source)
    # A step that names a missing column fails here, before anything is loaded.
    validate_against_schema(spec, schema)
    batches = _transformed_batches(source, schema, spec.steps, batch_rows)
    load = await warehouse.begin_load(table=destination.table, mode=destination.mode, run_id=run_id)
    try:
        result = await _stream(batches, load, emit)
        await emit("stage_finished", "extract", {"rows_read": result.rows_read})
        await emit("stage_finished", "transform", {"rows_filtered": result.rows_filtered})
        await load.commit()
    except BaseException:
        await _abort(load, run_id)
        raise
    await emit("stage_finished", "load", {"rows_written": result.rows_written})
    return result


async def _abort(load: TableLoad, run_id: str) -> None:
    """Abort, keeping the error that caused it: a failed abort is logged, not raised."""
    try:
        await load.abort()
    except Exception:
        logger.exception("run %s: aborting the load failed", run_id)


def _transformed_batches(
    source: SourceConfig, schema: pl.Schema, steps: Sequence[Step], batch_rows: int
) -> Generator[_Batch, None, None]:
    """Parsed and transformed batches; at least one, so an empty source still has a shape."""
    compiled = compile_steps(steps)
    produced = False
    for raw in iter_csv_batches(source, batch_rows, schema=schema):
        produced = True
        yield _Batch(run_transform(steps, raw, compiled), raw.height)
    if not produced:
        # Creates the destination table (with its columns) even when there are no rows.
        yield _Batch(run_transform(steps, pl.DataFrame(schema=schema), compiled), 0)


async def _stream(
    batches: Generator[_Batch, None, None], load: TableLoad, emit: EventSink
) -> LoadResult:
    """Write batches as a producer thread parses and transforms the next ones."""
    queue: asyncio.Queue[_Batch | _End] = asyncio.Queue(maxsize=QUEUE_DEPTH)
    producer = asyncio.create_task(_produce(batches, queue))
    result, written = LoadResult(), 0
    try:
        while isinstance(item := await queue.get(), _Batch):
            await load.write(item.frame)
            written += 1
            result.rows_read += item.rows_read
            result.rows_written += item.frame.height
            result.rows_filtered += item.rows_read - item.frame.height
            await emit("progress", "load", _progress(result, written))
        if item.error is not None:
            raise item.error
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
    return result


def _progress(result: LoadResult, batches: int) -> dict[str, Any]:
    return {
        "rows_read": result.rows_read,
        "rows_written": result.rows_written,
        "rows_filtered": result.rows_filtered,
        "batches": batches,
    }


async def _produce(
    batches: Generator[_Batch, None, None], queue: asyncio.Queue[_Batch | _End]
) -> None:
    """Feed the queue from the generator, each step in a thread; the error goes in too."""
    try:
        while (batch := await _finish_in_thread(next, batches, None)) is not None:
            await queue.put(batch)
    except asyncio.CancelledError:
        raise
    except BaseException as error:  # handed to the consumer, which re-raises it
        await queue.put(_End(error))
    else:
        await queue.put(_End())
    finally:
        # Safe: the thread is done with the generator (see _finish_in_thread).
        batches.close()


async def _finish_in_thread(function: Callable[..., _T], *args: Any) -> _T:
    """`asyncio.to_thread`, but a cancelled caller waits for the thread to finish.

    A thread cannot be stopped; waiting means the generator it runs is idle, and so can
    be closed (and its file released) as soon as the cancellation lands.
    """
    future = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await future
        raise
