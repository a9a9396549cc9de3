"""The blocking driver, for steps that need the whole input (dedupe, aggregate, sort...).

Memory stays bounded by spilling rather than holding the input:

1. each batch goes through the contract and the streaming steps, then is written to a
   temporary Arrow IPC file (its rejects to another);
2. the rest of the plan runs once, with Polars' streaming engine, over all those files
   and sinks its result to one more file (only the steps' own state, such as a group-by's
   groups or a sort's keys, is held in memory);
3. the result is loaded in slices of `batch_rows`, numbered like any batches, so a
   resumed run skips the slices its earlier attempt committed.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from app.etl.contract_rows import REJECT_SCHEMA
from app.etl.errors import SourceChanged
from app.etl.sources.reader import LOCATION_COLUMNS
from app.etl.sources.threads import finish_in_thread
from app.etl.streaming import Counters
from app.etl.transform import compile_steps, failure
from app.etl.warehouse.protocol import BatchStats
from app.event_types import Progress, Stage

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from app.etl.batches import BatchProcessor, Processed
    from app.etl.context import DriveContext, StepPlan


class Spill:
    """Temporary IPC files for one run's blocking stage (blocking I/O: use threads)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parts: list[Path] = []
        self.reject_parts: list[Path] = []
        self.totals = BatchStats()

    def add(self, processed: Processed) -> None:
        part = self.folder / f"part-{len(self.parts):06d}.ipc"
        processed.frame.drop(LOCATION_COLUMNS, strict=False).write_ipc(part)
        self.parts.append(part)
        if processed.rejects.height:
            rejects = self.folder / f"rejects-{len(self.reject_parts):06d}.ipc"
            processed.rejects.write_ipc(rejects)
            self.reject_parts.append(rejects)
        stats, totals = processed.stats, self.totals
        self.totals = BatchStats(
            rows_read=totals.rows_read + stats.rows_read,
            rows_rejected=totals.rows_rejected + stats.rows_rejected,
            cursor_max=_larger(totals.cursor_max, stats.cursor_max),
        )

    def run_tail(self, steps: StepPlan) -> int:
        """Run the blocking steps over every part into `result.ipc`; its row count."""
        tail, context = steps.tail, steps.context
        plan = compile_steps(tail, context)(pl.scan_ipc(self.parts))
        try:
            plan.sink_ipc(self.result, engine="streaming")
        except pl.exceptions.PolarsError as error:
            offset = len(steps.head)  # a failing step is named by its place in the spec
            raise failure(tail, pl.scan_ipc(self.parts), error, context, offset) from error
        return int(pl.scan_ipc(self.result).select(pl.len()).collect().item())

    @property
    def result(self) -> Path:
        return self.folder / "result.ipc"

    def slice(self, number: int, rows: int) -> tuple[pl.DataFrame, pl.DataFrame]:
        frame = pl.scan_ipc(self.result).slice(number * rows, rows).collect()
        if not self.reject_parts:
            return frame, pl.DataFrame(schema=REJECT_SCHEMA)
        rejects = pl.scan_ipc(self.reject_parts).slice(number * rows, rows).collect()
        return frame, rejects


async def run_blocking(batches: AsyncIterator[pl.DataFrame], drive: DriveContext) -> Counters:
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="dataflow-stage-"))
    try:
        spill = Spill(folder)
        await _spill_input(batches, drive, spill)
        output = await finish_in_thread(spill.run_tail, drive.plan)
        return await _load_result(spill, output, drive)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)


async def _spill_input(
    batches: AsyncIterator[pl.DataFrame], drive: DriveContext, spill: Spill
) -> None:
    def head_and_spill(raw: pl.DataFrame) -> None:
        spill.add(drive.processor.head(raw))

    seen = False
    try:
        async for raw in batches:
            seen = True
            await finish_in_thread(head_and_spill, raw)
            totals = spill.totals
            await drive.run.events(
                Progress(
                    stage=Stage.TRANSFORM,
                    rows_read=totals.rows_read,
                    rows_rejected=totals.rows_rejected,
                )
            )
    finally:
        close = getattr(batches, "aclose", None)
        if close is not None:
            await close()
    if not seen:
        # The tail needs at least one part to know the columns.
        await finish_in_thread(head_and_spill, drive.empty)


async def _load_result(spill: Spill, output: int, drive: DriveContext) -> Counters:
    totals, load, batch_rows = spill.totals, drive.load, drive.run.batch_rows
    count = max(math.ceil(output / batch_rows), math.ceil(totals.rows_rejected / batch_rows), 1)
    counters = Counters()
    for number in range(count):
        if number in load.committed:
            stored = load.committed[number]
            if number == 0 and stored.rows_read != totals.rows_read:
                raise SourceChanged(
                    f"this attempt read {totals.rows_read} rows, an earlier one "
                    f"{stored.rows_read}: the source changed; start a new run"
                )
            counters.add(stored, resumed=True)
        else:
            stats, frame, rejects = await finish_in_thread(
                _slice_stats, spill, drive.processor, number, batch_rows, output
            )
            await load.write_batch(number, frame, rejects=rejects, stats=stats)
            counters.add(stats)
        await drive.run.events(counters.progress())
    return counters


def _slice_stats(
    spill: Spill, processor: BatchProcessor, number: int, batch_rows: int, output: int
) -> tuple[BatchStats, pl.DataFrame, pl.DataFrame]:
    """Slice `number` of the result, with its share of the run's counts.

    Slice 0 carries the rows read and what the steps removed; each slice carries the
    rows it loads and the rejects that travel with it.
    """
    frame, rejects = spill.slice(number, batch_rows)
    frame, late = processor.finish(frame)
    if late.height:
        rejects = pl.concat([rejects, late])
    totals = spill.totals
    first = number == 0
    return (
        BatchStats(
            rows_read=totals.rows_read if first else 0,
            rows_written=frame.height,
            rows_rejected=rejects.height,
            rows_filtered=totals.rows_read - totals.rows_rejected - output if first else 0,
            cursor_max=totals.cursor_max if first else None,
        ),
        frame,
        rejects,
    )


def _larger(old: Any, new: Any) -> Any:
    if old is None:
        return new
    return old if new is None else max(old, new)
