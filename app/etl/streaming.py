"""The streaming driver: read and transform the next batches while the last one loads.

A producer task reads batches and transforms each in a worker thread; a short queue
bounds how far it runs ahead of the warehouse, so memory stays a few batches whatever
the input's size. Batches an earlier attempt committed are recognised and skipped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.etl.batches import Processed, fingerprint
from app.etl.errors import SourceChanged
from app.etl.sources.threads import finish_in_thread
from app.etl.warehouse.protocol import BatchStats

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

    import polars as pl

    from app.etl.batches import BatchProcessor
    from app.etl.warehouse import TableLoad

    EventSink = Callable[[str, str, dict[str, Any]], Awaitable[None]]

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

    def payload(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_rejected": self.rows_rejected,
            "rows_filtered": self.rows_filtered,
            "batches": self.batches,
            "batches_resumed": self.batches_resumed,
        }


@dataclass(frozen=True, slots=True)
class _Ready:
    number: int
    processed: Processed


@dataclass(frozen=True, slots=True)
class _Resumed:
    stats: BatchStats


@dataclass(frozen=True, slots=True)
class _End:
    error: BaseException | None = None


def check_resumed(number: int, stored: BatchStats, raw: pl.DataFrame) -> None:
    """A batch an earlier attempt committed must be the batch read again now."""
    if stored.rows_read == raw.height and stored.fingerprint == fingerprint(raw):
        return
    raise SourceChanged(
        f"batch {number} differs from the one an earlier attempt of this run loaded "
        f"({stored.rows_read} rows, {stored.fingerprint}; now {raw.height} rows, "
        f"{fingerprint(raw)}): the source changed; start a new run"
    )


async def stream_batches(
    batches: AsyncIterator[pl.DataFrame],
    empty: pl.DataFrame,
    processor: BatchProcessor,
    load: TableLoad,
    emit: EventSink,
    *,
    limit: int | None = None,
) -> Counters:
    """Load every batch; `empty` stands in for a source with no rows at all."""
    queue: asyncio.Queue[_Ready | _Resumed | _End] = asyncio.Queue(maxsize=QUEUE_DEPTH)
    producer = asyncio.create_task(
        _produce(batches, empty, processor, load.committed, queue, limit)
    )
    counters = Counters()
    try:
        while not isinstance(item := await queue.get(), _End):
            if isinstance(item, _Resumed):
                counters.add(item.stats, resumed=True)
            else:
                ready = item.processed
                await load.write_batch(
                    item.number, ready.frame, rejects=ready.rejects, stats=ready.stats
                )
                counters.add(ready.stats)
            await emit("progress", "load", counters.payload())
        if item.error is not None:
            raise item.error
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
    return counters


async def _produce(
    batches: AsyncIterator[pl.DataFrame],
    empty: pl.DataFrame,
    processor: BatchProcessor,
    committed: Mapping[int, BatchStats],
    queue: asyncio.Queue[_Ready | _Resumed | _End],
    limit: int | None,
) -> None:
    """Feed the queue; the error, if any, goes in too (the consumer re-raises it)."""
    number, remaining = 0, limit
    try:
        async for raw in batches:
            if number in committed:
                check_resumed(number, committed[number], raw)
                item: _Ready | _Resumed = _Resumed(committed[number])
                written = committed[number].rows_written
            else:
                processed = await finish_in_thread(processor.process, raw)
                item = _Ready(number, _limited(processed, remaining))
                written = item.processed.stats.rows_written
            await queue.put(item)
            number += 1
            if remaining is not None:
                remaining -= written
                if remaining <= 0:
                    break  # a limit reached: the rest of the input is never read
        if number == 0:
            # Creates the table (with its columns) even when the source has no rows.
            processed = await finish_in_thread(processor.process, empty)
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
