"""One run's load, the same on every backend: batches into staging, then one apply.

Each batch is its own transaction: the ledger row (run, batch), the rows into the run's
staging table and its rejects commit together, so a batch is loaded exactly once however
often it is delivered. `commit` applies the staging table to the table and moves the
watermark in one transaction, so readers see the whole run or nothing of it.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from app.errors import RunTakenAway, WarehouseError
from app.etl.warehouse import ledger
from app.etl.warehouse.apply import SEQUENCE_COLUMN, apply_staging
from app.etl.warehouse.jobs import BatchJobs
from app.etl.warehouse.protocol import BatchStats, LoadTotals

if TYPE_CHECKING:
    from collections.abc import Mapping

    from app.etl.warehouse.database import Database
    from app.etl.warehouse.protocol import LoadOptions, Mode, StoredWatermark
    from app.etl.warehouse.staging_schema import StagingSchema


@dataclass(frozen=True)
class LoadTarget:
    """Where one run's load goes: the table and how (mode, options), the run, and the
    run's staging table with the schema that keeps it fitting the table."""

    table: str
    mode: Mode
    run_id: str
    options: LoadOptions
    staging: str
    schema: StagingSchema


@dataclass(frozen=True)
class LoadStart:
    """Where the run's load stands as this attempt begins."""

    committed: dict[int, BatchStats]
    """Batches earlier attempts committed (this one skips them)."""
    applied: LoadTotals | None
    """Set when an earlier attempt applied the run: nothing is left to do."""
    watermark: StoredWatermark | None
    """The watermark of (pipeline, table) before this run."""


class StagedLoad:
    def __init__(self, db: Database, target: LoadTarget, start: LoadStart) -> None:
        self._db = db
        self._table = target.table
        self._mode = target.mode
        self._run_id = target.run_id
        self._options = target.options
        self._staging = target.staging
        self._schema = target.schema
        self._committed = start.committed
        self._applied = start.applied
        self._watermark = start.watermark
        self._next = max(start.committed, default=-1) + 1
        self._jobs = BatchJobs()
        self._finished = start.applied is not None

    @property
    def committed(self) -> Mapping[int, BatchStats]:
        return self._committed

    @property
    def applied(self) -> LoadTotals | None:
        return self._applied

    @property
    def watermark(self) -> StoredWatermark | None:
        return self._watermark

    def _check_open(self) -> None:
        if self._finished:
            raise WarehouseError(f"the load into {self._table} is already finished")

    async def write(self, batch: pl.DataFrame) -> None:
        await self.write_batch(self._next, batch)

    async def write_batch(
        self,
        number: int,
        batch: pl.DataFrame,
        *,
        rejects: pl.DataFrame | None = None,
        stats: BatchStats | None = None,
    ) -> None:
        self._check_open()
        self._next = max(self._next, number + 1)
        if number in self._committed:
            return  # committed by an earlier delivery: loading it again would duplicate
        stats = stats or BatchStats(rows_read=batch.height, rows_written=batch.height)
        # Fitting (casts) and encoding are work on every row: a thread, not the loop.
        encoded = await asyncio.to_thread(self._encode, number, batch, rejects)
        columns, payload, rejected, ddl, created = encoded
        job = functools.partial(
            self._commit_batch, number, columns, payload, rejected, stats, ddl, created
        )
        await self._jobs.put(job)

    def _encode(
        self, number: int, batch: pl.DataFrame, rejects: pl.DataFrame | None
    ) -> tuple[list[str], Any, Any, list[str], bool]:
        """(columns, encoded rows, encoded rejects, staging DDL, whether it creates it)."""
        frame, ddl, created = self._schema.prepare(batch)
        if self._mode == "merge":
            position = pl.int_range(pl.len(), dtype=pl.Int64)
            sequence = pl.lit(number, pl.Int64) * 2**32 + position
            frame = frame.with_columns(sequence.alias(SEQUENCE_COLUMN))
        payload = self._db.encode(frame) if frame.height else None
        rejected = None
        if rejects is not None and rejects.height:
            rejected = self._db.encode(self._reject_rows(rejects, number), exact=False)
        return frame.columns, payload, rejected, ddl, created

    def _reject_rows(self, rejects: pl.DataFrame, number: int) -> pl.DataFrame:
        return rejects.select(
            pl.lit(self._run_id).alias("run_id"),
            pl.lit(self._table).alias("table_name"),
            pl.lit(number, pl.Int32).alias("batch_no"),
            pl.col("source").cast(pl.String),
            pl.col("row_number").cast(pl.Int64),
            pl.col("reason").cast(pl.String),
            pl.col("raw").cast(pl.String),
        )

    async def _commit_batch(
        self,
        number: int,
        columns: list[str],
        payload: Any,
        rejected: Any,
        stats: BatchStats,
        ddl: list[str],
        created: bool,
    ) -> None:
        db = self._db
        with db.errors(f"cannot load batch {number} into {self._table}"):
            async with db.transaction():
                for statement in ddl:
                    await db.execute(statement)
                await self._fence()
                if not await ledger.claim_batch(db, self._run_id, number, stats):
                    return  # delivered twice: the first delivery's rows stand
                if payload is not None:
                    await db.insert_encoded(self._staging, columns, payload, fresh=created)
                if rejected is not None:
                    await db.insert_encoded(
                        ledger.REJECTS, ledger.REJECT_COLUMNS, rejected, fresh=False
                    )

    async def _fence(self) -> None:
        if not await ledger.owns(self._db, self._run_id, self._options.attempt):
            raise RunTakenAway(
                f"run {self._run_id}: a later attempt took over the load into {self._table}; "
                "this attempt stops"
            )

    async def commit(self) -> LoadTotals:
        """Apply the run; on failure the load stays open for `abort` or `suspend` (the
        caller knows whether a retry will follow)."""
        self._check_open()
        await self._jobs.finish()
        with self._db.errors(f"cannot commit the load into {self._table}"):
            async with self._db.transaction():
                totals = await self._apply()
        self._finished = True
        self._applied = totals
        await self._db.close()
        return totals

    async def _apply(self) -> LoadTotals:
        db = self._db
        await self._fence()
        batches = await ledger.committed_batches(db, self._run_id)
        await apply_staging(
            db, table=self._table, staging=self._staging, mode=self._mode, options=self._options
        )
        watermark, text = await self._move_watermark(batches)
        totals = LoadTotals(
            rows_read=sum(b.rows_read for b in batches.values()),
            rows_written=sum(b.rows_written for b in batches.values()),
            rows_rejected=sum(b.rows_rejected for b in batches.values()),
            rows_filtered=sum(b.rows_filtered for b in batches.values()),
            batches=len(batches),
            watermark=watermark,
        )
        await ledger.mark_applied(db, self._run_id, totals, text)
        await ledger.forget_batches(db, self._run_id)
        return totals

    async def _move_watermark(self, batches: Mapping[int, BatchStats]) -> tuple[Any, str | None]:
        """The new watermark (never behind the old one), stored in the apply transaction."""
        column = self._options.cursor
        values = [b.cursor_max for b in batches.values() if b.cursor_max is not None]
        if self._watermark is not None:
            values.append(self._watermark.value)
        if column is None or not values:
            return None, None
        highest = max(values)
        text = await ledger.write_watermark(
            self._db,
            pipeline=self._options.pipeline,
            table=self._table,
            column=column,
            value=highest,
            dtype=pl.Series([highest]).dtype,
            run_id=self._run_id,
        )
        return highest, text

    async def abort(self, *, keep_rejects: bool = False) -> None:
        if self._finished:
            return
        self._finished = True
        await self._settle(keep=keep_rejects)
        try:
            with self._db.errors(f"cannot discard the load into {self._table}"):
                # A batch or the apply may have been cut off mid-statement.
                await self._db.reset()
                async with self._db.transaction():
                    if await ledger.owns(self._db, self._run_id, self._options.attempt):
                        await discard(
                            self._db, self._run_id, self._staging, keep_rejects=keep_rejects
                        )
        finally:
            await self._db.close()

    async def suspend(self) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            # Batches already encoded are worth committing: the next attempt skips them.
            await self._settle(keep=True)
        finally:
            await self._db.close()

    async def _settle(self, *, keep: bool) -> None:
        """Let the batch writes under way finish (`keep`), or stop them."""
        if not keep:
            await self._jobs.cancel()
            return
        try:
            # When the connection is what failed, this fails fast.
            await self._jobs.finish()
        except Exception:
            await self._jobs.cancel()


async def discard(db: Database, run_id: str, staging: str, *, keep_rejects: bool = False) -> None:
    """Everything a run left, gone (but its rejects, if asked); in the caller's transaction."""
    await db.execute(f"DROP TABLE IF EXISTS {db.qualify(staging)}")
    await ledger.forget_run(db, run_id, keep_rejects=keep_rejects)
