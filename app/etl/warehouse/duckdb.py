"""The embedded warehouse: a DuckDB file, loaded with Arrow batches in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import duckdb

from app.errors import ConfigError, DataFlowError, WarehouseError, WarehouseUnavailable
from app.etl.errors import SchemaMismatch, TableNotFound
from app.etl.names import quote_ident
from app.etl.warehouse.naming import check_columns, check_table, describe_mismatch, staging_table
from app.etl.warehouse.sql import create_empty_like, delete_all, insert_select, select_from

if TYPE_CHECKING:
    from collections.abc import Callable

    import polars as pl

    from app.etl.warehouse.protocol import Mode

_T = TypeVar("_T")

# DuckDB lets one process hold a database file, so the process keeps one connection per
# file and every operation runs on its own cursor (a cursor is a connection to the same
# database, with its own transaction).
_LOCK = threading.Lock()
_CONNECTIONS: dict[Path, tuple[duckdb.DuckDBPyConnection, int]] = {}
_VIEW_IDS = itertools.count()

_COLUMNS_SQL = (
    "SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position"
)


def _acquire(path: Path) -> duckdb.DuckDBPyConnection:
    with _LOCK:
        connection, users = _CONNECTIONS.get(path) or (None, 0)
        if connection is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = duckdb.connect(str(path))
        _CONNECTIONS[path] = (connection, users + 1)
        return connection


def _release(path: Path) -> None:
    with _LOCK:
        connection, users = _CONNECTIONS.get(path) or (None, 0)
        if connection is None:
            return
        if users > 1:
            _CONNECTIONS[path] = (connection, users - 1)
            return
        del _CONNECTIONS[path]
        connection.close()


async def _in_thread(action: str, function: Callable[[], _T]) -> _T:
    """Run blocking DuckDB work off the event loop, with its errors typed."""
    try:
        return await asyncio.to_thread(function)
    except DataFlowError:
        raise
    except duckdb.IOException as error:
        # Typically another process holds the file's lock; that may pass.
        raise WarehouseUnavailable(f"{action}: {error}") from error
    except duckdb.Error as error:
        raise WarehouseError(f"{action}: {error}") from error


def _columns(cursor: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [row[0] for row in cursor.execute(_COLUMNS_SQL, [table]).fetchall()]


class DuckDBWarehouse:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: duckdb.DuckDBPyConnection | None = None
        # Two first operations at once must not both take a reference on the file.
        self._opening = asyncio.Lock()

    async def _cursor(self) -> duckdb.DuckDBPyConnection:
        async with self._opening:
            if self._connection is None:
                self._connection = await _in_thread(
                    f"cannot open the warehouse {self._path}", lambda: _acquire(self._path)
                )
            connection = self._connection
        return await _in_thread("cannot open a cursor", connection.cursor)

    async def begin_load(self, *, table: str, mode: Mode, run_id: str) -> DuckDBTableLoad:
        check_table(table)
        cursor = await self._cursor()

        def begin() -> None:
            try:
                cursor.begin()
            except BaseException:
                cursor.close()
                raise

        await _in_thread(f"cannot start the load into {table}", begin)
        return DuckDBTableLoad(cursor, table=table, mode=mode, run_id=run_id)

    async def read_table(self, table: str) -> pl.DataFrame:
        check_table(table)
        cursor = await self._cursor()

        def read() -> pl.DataFrame:
            with cursor:
                if not _columns(cursor, table):
                    raise TableNotFound(f"the warehouse has no table {table}")
                # Zoned timestamps come back in UTC, not the host's zone.
                cursor.execute("SET TimeZone = 'UTC'")
                return cursor.execute(select_from(quote_ident(table))).pl()

        return await _in_thread(f"cannot read {table}", read)

    async def table_exists(self, table: str) -> bool:
        check_table(table)
        cursor = await self._cursor()

        def exists() -> bool:
            with cursor:
                return bool(_columns(cursor, table))

        return await _in_thread(f"cannot look up {table}", exists)

    async def ping(self) -> None:
        cursor = await self._cursor()

        def select_one() -> None:
            with cursor:
                cursor.execute("SELECT 1").fetchall()

        await _in_thread("the warehouse does not answer", select_one)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            await asyncio.to_thread(_release, self._path)


class DuckDBTableLoad:
    """One transaction on one cursor; each batch goes in as Arrow through a registered view."""

    def __init__(
        self, cursor: duckdb.DuckDBPyConnection, *, table: str, mode: Mode, run_id: str
    ) -> None:
        self._cursor = cursor
        self._table = table
        self._mode = mode
        self._target = staging_table(table, run_id) if mode == "replace" else table
        self._columns: list[str] | None = None
        self._finished = False
        # A cancelled caller does not stop its thread: an abort must wait for a running
        # insert rather than use the cursor alongside it.
        self._lock = threading.Lock()

    async def write(self, batch: pl.DataFrame) -> None:
        if self._finished:
            raise WarehouseError(f"the load into {self._table} is already finished")
        await _in_thread(f"cannot load into {self._table}", lambda: self._insert(batch))

    def _insert(self, batch: pl.DataFrame) -> None:
        view = f"_batch_{next(_VIEW_IDS)}"
        with self._lock:
            self._cursor.register(view, batch.to_arrow())
            try:
                self._insert_view(batch, view)
            finally:
                self._cursor.unregister(view)

    def _insert_view(self, batch: pl.DataFrame, view: str) -> None:
        self._prepare(batch, view)
        if batch.height:
            self._cursor.execute(
                insert_select(quote_ident(self._target), batch.columns, quote_ident(view))
            )

    def _prepare(self, batch: pl.DataFrame, view: str) -> None:
        """Create or check the target table, once, from the first batch's schema."""
        if self._columns is not None:
            existing = self._columns
        else:
            columns = check_columns(batch.columns)
            existing = _columns(self._cursor, self._target) if self._mode == "append" else []
            if not existing:
                self._cursor.execute(
                    create_empty_like(quote_ident(self._target), quote_ident(view))
                )
                existing = columns
        mismatch = describe_mismatch(self._table, existing, batch.columns)
        if mismatch:
            raise SchemaMismatch(mismatch)
        self._columns = existing

    async def commit(self) -> None:
        if self._finished:
            raise WarehouseError(f"the load into {self._table} is already finished")
        try:
            await _in_thread(f"cannot commit the load into {self._table}", self._commit)
        except BaseException:
            await self.abort()
            raise
        self._finished = True
        await asyncio.to_thread(self._cursor.close)

    def _commit(self) -> None:
        with self._lock:
            if self._mode == "replace":
                self._swap_in()
            self._cursor.commit()

    def _swap_in(self) -> None:
        table = quote_ident(self._table)
        if self._columns is None:
            # Nothing was written: replacing with nothing empties the table, keeping it.
            if _columns(self._cursor, self._table):
                self._cursor.execute(delete_all(table))
            return
        self._cursor.execute(f"DROP TABLE IF EXISTS {table}")
        self._cursor.execute(f"ALTER TABLE {quote_ident(self._target)} RENAME TO {table}")

    async def abort(self) -> None:
        if self._finished:
            return
        self._finished = True

        def rollback() -> None:
            with self._lock:
                # A failed commit has already rolled back; closing the cursor discards
                # whatever is left of the transaction either way.
                with contextlib.suppress(duckdb.Error):
                    self._cursor.rollback()
                self._cursor.close()

        await _in_thread(f"cannot roll back the load into {self._table}", rollback)


def duckdb_path(target: str) -> Path:
    """`duckdb:///abs/path.duckdb` -> the absolute path."""
    path = Path(target.removeprefix("duckdb://"))
    if not path.is_absolute():
        raise ConfigError(f"{target!r}: a DuckDB target needs an absolute path, duckdb:///path")
    return path
