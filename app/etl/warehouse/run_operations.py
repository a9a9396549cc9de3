"""The per-run operations both warehouses answer the same way, each on a database
connection of its own: a backend says how to open one and how to abandon one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from app.etl.warehouse import row_reads, runs
from app.etl.warehouse.database import Database
from app.etl.warehouse.naming import check_table
from app.etl.warehouse.protocol import LoadOptions

if TYPE_CHECKING:
    from collections.abc import Sequence

    import polars as pl

    from app.etl.warehouse.protocol import Mode
    from app.etl.warehouse.row_reads import RejectKey, RowFilter
    from app.etl.warehouse.staged_load import StagedLoad

DB = TypeVar("DB", bound=Database)


class RunOperations(Generic[DB]):
    async def _database(self) -> DB:
        """A fresh connection, ready for loads (UTC, ledger tables present)."""
        raise NotImplementedError

    async def _abandon(self, db: DB) -> None:
        """Let go of a connection whose load could not start."""
        await db.close()

    async def begin_load(
        self, *, table: str, mode: Mode, run_id: str, options: LoadOptions | None = None
    ) -> StagedLoad:
        check_table(table)
        db = await self._database()
        try:
            return await runs.begin_staged_load(
                db, table=table, mode=mode, run_id=run_id, options=options or LoadOptions()
            )
        except BaseException:
            await self._abandon(db)
            raise

    async def discard_run(self, run_id: str) -> None:
        db = await self._database()
        try:
            await runs.discard_run(db, run_id)
        finally:
            await db.close()

    async def forget_runs(self, run_ids: Sequence[str]) -> int:
        db = await self._database()
        try:
            return await runs.forget_runs(db, run_ids)
        finally:
            await db.close()

    async def read_rejects(self, run_id: str) -> pl.DataFrame:
        db = await self._database()
        try:
            return await runs.read_rejects(db, run_id)
        finally:
            await db.close()

    async def read_rejects_page(
        self,
        run_id: str,
        *,
        where: Sequence[RowFilter] = (),
        after: RejectKey | None = None,
        limit: int,
    ) -> pl.DataFrame:
        db = await self._database()
        try:
            return await row_reads.read_rejects_page(
                db, run_id, where=where, after=after, limit=limit
            )
        finally:
            await db.close()
