"""The streaming driver: read and transform the next batches while the last one loads.

A producer task reads batches and transforms each in a worker thread; a short queue
bounds how far it runs ahead of the warehouse, so memory stays a few batches whatever
the input's size. Batches an earlier attempt committed are recognised and skipped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.etl.batches import Processed, fingerprint
from app.etl.errors import SourceChanged
from app.etl.sources.threads import finish_in_thread
from app.etl.warehouse.protocol import BatchStats
from app.event_types import Progress, Stage

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import polars as pl

    from app.etl.context import DriveContext

# Batches transformed ahead of the one being written: enough to keep the warehouse
# busy, few enough that memory stays a handful of batches whatever the input's size.
QUEUE_DEPTH = 1


class Counters:
    """The run's four counts so far (rows read = written + rejected + filtered)."""

    def __init__(self) -> None:
        self.rows_read = self.rows_written = self.rows_rejected = self.rows_filtered = 0
        self.batches = self.batches_resumed = 0

    def add(self, stats: BatchStats, *, resumed: bool = False) -> None:
        self.rows_read += stats.rows_read
        self.rows_written += stats.rows_written
        self.rows_rejected += stats.rows_rejected
        self.rows_filtered += stats.rows_filtered
        self.batches += 1
        self.batches_resumed += resumed

    def progress(self) -> Progress:
        """The load's progress event for the counts so far."""
        return Progress(
            stage=Stage.LOAD,
            rows_read=self.rows_read,
            rows_written=self.rows_written,
            rows_rejected=self.rows_rejected,
            rows_filtered=self.rows_filtered,
            batches=self.batches,
            batches_resumed=self.batches_resumed,
        )


@dataclass(frozen=True, slots=True)
class _Ready:
    number: int
    processed: Processed

    @property
    def rows_written(self) -> int:
        return self.processed.stats.rows_written


@dataclass(frozen=True, slots=True)
class _Resumed:
    stats: BatchStats

    @property
    def rows_written(self) -> int:
        return self.stats.rows_written


@dataclass(frozen=True, slots=True)
class _End:
    error: BaseException | None = None


_Item = _Ready | _Resumed | _End


def check_resumed(number: int, stored: BatchStats, raw: pl.DataFrame) -> None:
    """A batch an earlier attempt committed must be the batch read again now."""
    if stored.rows_read == raw.height and stored.fingerprint == fingerprint(raw):
        return
    raise SourceChanged(
        f"batch {number} differs from the one an earlier attempt of this run loaded "
        f"({stored.rows_read} rows, {stored.fingerprint}; now {raw.height} rows, "
        f"{fingerprint(raw)}): the source changed; start a new run"
    )


async def stream_batches(batches: AsyncIterator[pl.DataFrame], drive: DriveContext) -> Counters:
    """Load every batch; `drive.empty` stands in for a source with no rows at all."""
    queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=QUEUE_DEPTH)
    producer = asyncio.create_task(_produce(batches, drive, queue))
    try:
        return await _consume(queue, drive)
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)


async def _consume(queue: asyncio.Queue[_Item], drive: DriveContext) -> Counters:
    """Write each batch the producer readied, counting resumed ones; re-raise its error."""
    counters, load = Counters(), drive.load
    while not isinstance(item := await queue.get(), _End):
        if isinstance(item, _Resumed):
            counters.add(item.stats, resumed=True)
        else:
            ready = item.processed
            await load.write_batch(
                item.number, ready.frame, rejects=ready.rejects, stats=ready.stats
            )
            counters.add(ready.stats)
        await drive.run.events(counters.progress())
    if item.error is not None:
        raise item.error
    return counters


async def _produce(
    batches: AsyncIterator[pl.DataFrame], drive: DriveContext, queue: asyncio.Queue[_Item]
) -> None:
    """Feed the queue; the error, if any, goes in too (the consumer re-raises it)."""
    try:
        if not await _ready_each(batches, drive, queue):
            # Creates the table (with its columns) even when the source has no rows.
            processed = await finish_in_thread(drive.processor.process, drive.empty)
            await queue.put(_Ready(0, processed))
    except asyncio.CancelledError:
        raise
    except BaseException as error:  # handed to the consumer, which re-raises it
        await queue.put(_End(error))
    else:
        await queue.put(_End())
    finally:
        close = getattr(batches, "aclose", None)
        if close is not None:
            await close()


async def _ready_each(
    batches: AsyncIterator[pl.DataFrame], drive: DriveContext, queue: asyncio.Queue[_Item]
) -> int:
    """Put each batch read in the queue, processed or recognised as resumed, until the
    input or a trailing limit ends; how many there were."""
    number, remaining = 0, drive.plan.limit
    async for raw in batches:
        item = await _ready(number, raw, drive, remaining)
        await queue.put(item)
        number += 1
        if remaining is not None:
            remaining -= item.rows_written
            if remaining <= 0:
                break  # a limit reached: the rest of the input is never read
    return number


async def _ready(
    number: int,
    raw: pl.DataFrame,
    drive: DriveContext,
    remaining: int | None,
) -> _Ready | _Resumed:
    """Batch `number` as read: skipped if an earlier attempt committed it (after checking
    it is the same batch), else processed in a thread."""
    committed = drive.load.committed
    if number in committed:
        check_resumed(number, committed[number], raw)
        return _Resumed(committed[number])
    processed = await finish_in_thread(drive.processor.process, raw)
    return _Ready(number, _limited(processed, remaining))


def _limited(processed: Processed, remaining: int | None) -> Processed:
    """A trailing `limit` applied as the rows stream: rows past it count as filtered."""
    if remaining is None or processed.frame.height <= remaining:
        return processed
    kept = processed.frame.head(max(remaining, 0))
    stats = processed.stats
    dropped = stats.rows_written - kept.height
    return Processed(
        kept,
        processed.rejects,
        BatchStats(
            rows_read=stats.rows_read,
            rows_written=kept.height,
            rows_rejected=stats.rows_rejected,
            rows_filtered=stats.rows_filtered + dropped,
            cursor_max=stats.cursor_max,
            fingerprint=stats.fingerprint,
        ),
    )
