"""Starting a run's load (fresh, resumed or already applied), and cleaning one up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from app.errors import RunTakenAway, WarehouseError
from app.etl.warehouse import ledger
from app.etl.warehouse.naming import check_destination, staging_table
from app.etl.warehouse.row_reads import REJECT_PAGE_SCHEMA
from app.etl.warehouse.staged_load import LoadStart, LoadTarget, StagedLoad, discard
from app.etl.warehouse.staging_schema import StagingSchema

if TYPE_CHECKING:
    from collections.abc import Sequence

    from app.etl.warehouse.database import Database
    from app.etl.warehouse.protocol import (
        BatchStats,
        LoadOptions,
        LoadTotals,
        Mode,
        StoredWatermark,
    )


@dataclass(frozen=True, slots=True)
class _Found:
    """What a load starts from: the ledger's view of the run and the tables as they are."""

    committed: dict[int, BatchStats]
    applied: LoadTotals | None
    watermark: StoredWatermark | None
    target: pl.Schema | None
    staged: pl.Schema | None


async def begin_staged_load(
    db: Database, *, table: str, mode: Mode, run_id: str, options: LoadOptions
) -> StagedLoad:
    """Take the table, then start the run's load or pick up where its last attempt was."""
    check_destination(table)
    staging = staging_table(table, run_id)
    with db.errors(f"cannot start the load into {table}"):
        async with db.transaction():
            await ledger.ensure_tables(db)
        await db.lock_table(table)
        async with db.transaction():
            found = await _find_start(db, table, mode, run_id, staging, options)
    if found.applied is not None:
        await db.close()  # nothing left to do: the load answers from the ledger
    return _staged_load(db, table=table, mode=mode, run_id=run_id, options=options, found=found)


def _staged_load(
    db: Database, *, table: str, mode: Mode, run_id: str, options: LoadOptions, found: _Found
) -> StagedLoad:
    staging = staging_table(table, run_id)
    # Staging that is renamed into place must be logged; staging the apply only copies
    # from can skip the write-ahead log, which saves the server a fifth of its work.
    renamed = mode == "replace" or (mode == "append" and found.target is None)
    schema = StagingSchema(
        db,
        table=table,
        staging=staging,
        mode=mode,
        options=options,
        target=found.target,
        staged=found.staged,
        unlogged=db.unlogged_staging and not renamed,
    )
    into = LoadTarget(
        table=table, mode=mode, run_id=run_id, options=options, staging=staging, schema=schema
    )
    start = LoadStart(committed=found.committed, applied=found.applied, watermark=found.watermark)
    return StagedLoad(db, into, start)


async def _find_start(
    db: Database, table: str, mode: Mode, run_id: str, staging: str, options: LoadOptions
) -> _Found:
    """Claim the run's load and read where it stands; in the caller's transaction."""
    committed, applied = await _claim(db, table, mode, run_id, staging, options)
    watermark = await ledger.read_watermark(db, options.pipeline, table)
    target = await db.table_schema(table)
    staged = await db.table_schema(staging) if applied is None else None
    if committed and not await _staging_holds(db, staging, staged, committed):
        # The ledger outlived its staging rows (a server crash empties unlogged
        # tables; or it was dropped by hand): start the run afresh.
        await db.execute(f"DROP TABLE IF EXISTS {db.qualify(staging)}")
        await ledger.forget_run(db, run_id, keep_load=True)
        committed, staged = {}, None
    return _Found(committed, applied, watermark, target, staged)


async def _staging_holds(
    db: Database, staging: str, staged: pl.Schema | None, committed: dict[int, BatchStats]
) -> bool:
    """Whether the staging table still has every row the ledger says was committed."""
    if staged is None:
        return False
    rows = await db.fetch(f"SELECT count(*) FROM {db.qualify(staging)}")  # noqa: S608
    return int(rows[0][0]) == sum(stats.rows_written for stats in committed.values())


async def _claim(
    db: Database, table: str, mode: Mode, run_id: str, staging: str, options: LoadOptions
) -> tuple[dict[int, BatchStats], LoadTotals | None]:
    """(batches already committed, totals if the run was already applied)."""
    found = await ledger.find_load(db, run_id)
    if found is None:
        await ledger.insert_load(
            db, run_id, options.pipeline, table, mode, staging, options.attempt
        )
        return {}, None
    if (found[0], found[1]) != (table, mode):
        raise WarehouseError(
            f"run {run_id} already loads {found[0]} ({found[1]}); it cannot load {table} ({mode})"
        )
    if found[4] == "applied":
        return {}, ledger.totals_of(found)
    if not await ledger.take_over(db, run_id, options.attempt):
        raise RunTakenAway(f"run {run_id}: attempt {found[3]} owns the load, not {options.attempt}")
    return await ledger.committed_batches(db, run_id), None


async def discard_run(db: Database, run_id: str, attempt: int) -> None:
    """Drop an unfinished run's staging, ledger rows and rejects (applied runs stay).

    Fenced like every other write of a run: when a later attempt owns the load, the
    caller is a stale worker and its discard is a no-op (it would delete the new owner's
    staged batches)."""
    with db.errors(f"cannot discard run {run_id}"):
        async with db.transaction():
            await ledger.ensure_tables(db)
        found = await _find(db, run_id)
        if found is None or found[4] == "applied" or found[3] > attempt:
            return
        await db.lock_table(found[0])
        async with db.transaction():
            # Looked at again under the table lock: a later attempt may have taken over.
            found = await ledger.find_load(db, run_id)
            if found is None or found[4] == "applied" or found[3] > attempt:
                return
            await discard(db, run_id, found[2])


async def forget_runs(db: Database, run_ids: Sequence[str]) -> int:
    """Retention: everything the warehouse keeps about these runs (rejects, ledger rows,
    an unfinished run's staging) goes; their loaded rows stay. Returns rejects removed."""
    removed = 0
    with db.errors("cannot forget runs"):
        async with db.transaction():
            await ledger.ensure_tables(db)
        for run_id in run_ids:
            found = await _find(db, run_id)
            async with db.transaction():
                rows = await db.fetch(
                    f"SELECT count(*) FROM {db.qualify(ledger.REJECTS)} WHERE run_id = $1",  # noqa: S608
                    run_id,
                )
                removed += int(rows[0][0])
                if found is not None:
                    await db.execute(f"DROP TABLE IF EXISTS {db.qualify(found[2])}")
                await ledger.forget_run(db, run_id)
    return removed


async def _find(db: Database, run_id: str) -> tuple[Any, ...] | None:
    async with db.transaction():
        return await ledger.find_load(db, run_id)


async def read_rejects(db: Database, run_id: str) -> pl.DataFrame:
    with db.errors(f"cannot read the rejects of run {run_id}"):
        async with db.transaction():
            await ledger.ensure_tables(db)
            rows = await db.fetch(
                f"SELECT batch_no, source, row_number, reason, {db.raw_as_text('raw')} "  # noqa: S608
                f"FROM {db.qualify(ledger.REJECTS)} WHERE run_id = $1 "
                "ORDER BY batch_no, row_number",
                run_id,
            )
    return pl.DataFrame(rows, schema=REJECT_PAGE_SCHEMA, orient="row")
