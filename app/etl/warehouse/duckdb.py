"""The embedded warehouse: a DuckDB file, loaded with Arrow batches through staging."""

from __future__ import annotations

import asyncio
import functools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import duckdb

from app.errors import ConfigError
from app.etl.errors import TableNotFound
from app.etl.names import quote_ident
from app.etl.warehouse import ledger
from app.etl.warehouse.analytics_access import InPlace
from app.etl.warehouse.duckdb_database import DuckDBDatabase, duckdb_errors
from app.etl.warehouse.kinds import WarehouseKind
from app.etl.warehouse.naming import check_table
from app.etl.warehouse.row_reads import (
    Params,
    RowFilter,
    RowsRead,
    count_sql,
    select_sql,
    where_sql,
)
from app.etl.warehouse.run_operations import RunOperations

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import polars as pl


_T = TypeVar("_T")

# DuckDB lets one process hold a database file, so the process keeps one connection per
# file and every operation runs on its own cursor (a cursor is a connection to the same
# database, with its own transaction).
_LOCK = threading.Lock()
_CONNECTIONS: dict[Path, tuple[duckdb.DuckDBPyConnection, int]] = {}
# Files whose ledger tables exist: created once, under _LOCK, so that two first loads do
# not both create them and conflict.
_LEDGER_READY: set[Path] = set()

_COLUMNS_SQL = (
    "SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position"
)
_TYPED_COLUMNS_SQL = _COLUMNS_SQL.replace("column_name", "column_name, data_type", 1)


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
    with duckdb_errors(action):
        return await asyncio.to_thread(function)


def _columns(cursor: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [row[0] for row in cursor.execute(_COLUMNS_SQL, [table]).fetchall()]


class DuckDBWarehouse(RunOperations[DuckDBDatabase]):
    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: duckdb.DuckDBPyConnection | None = None
        # Two first operations at once must not both take a reference on the file.
        self._opening = asyncio.Lock()

    async def _open(self) -> duckdb.DuckDBPyConnection:
        async with self._opening:
            if self._connection is None:
                self._connection = await _in_thread(
                    f"cannot open the warehouse {self._path}", lambda: _acquire(self._path)
                )
            return self._connection

    async def _cursor(self) -> duckdb.DuckDBPyConnection:
        connection = await self._open()
        return await _in_thread("cannot open a cursor", connection.cursor)

    async def _database(self) -> DuckDBDatabase:
        connection = await self._open()
        cursor = await _in_thread("cannot open a cursor", connection.cursor)
        db = DuckDBDatabase(cursor, connection.cursor)

        def prepare() -> None:
            # Zoned timestamps are compared and read back in UTC, not the host's zone.
            cursor.execute("SET TimeZone = 'UTC'")
            with _LOCK:
                if self._path not in _LEDGER_READY:
                    for statement in ledger.ddl_statements(db):
                        cursor.execute(statement)
                    _LEDGER_READY.add(self._path)

        try:
            await _in_thread("cannot prepare the warehouse", prepare)
        except BaseException:
            await db.close()
            raise
        return db

    async def read_table(self, table: str) -> pl.DataFrame:
        return (await self.read_rows(table)).frame

    async def read_rows(
        self,
        table: str,
        *,
        where: Sequence[RowFilter] = (),
        limit: int | None = None,
        count: bool = False,
    ) -> RowsRead:
        check_table(table)
        cursor = await self._cursor()

        def read() -> RowsRead:
            with cursor:
                found = cursor.execute(_TYPED_COLUMNS_SQL, [table]).fetchall()
                if not found:
                    raise TableNotFound(f"the warehouse has no table {table}")
                text_columns = {row[0]: row[1] == "VARCHAR" for row in found}
                cursor.execute("SET TimeZone = 'UTC'")
                params = Params()
                condition = where_sql(table, where, text_columns, params)
                sql = select_sql(quote_ident(table), "*", condition, limit, params)
                frame = cursor.execute(sql, params.values).pl()
                total = None
                if count:
                    counted = Params()
                    condition = where_sql(table, where, text_columns, counted)
                    row = cursor.execute(count_sql(quote_ident(table), condition), counted.values)
                    total = int(row.fetchall()[0][0])
                return RowsRead(frame, total)

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


def duckdb_path(target: str) -> Path:
    """`duckdb:///abs/path.duckdb` -> the absolute path."""
    path = Path(target.removeprefix("duckdb://"))
    if not path.is_absolute():
        raise ConfigError(f"{target!r}: a DuckDB target needs an absolute path, duckdb:///path")
    return path


def in_place_access(path: Path) -> InPlace:
    """Analytics reads the file's tables on the connection this process holds on it."""
    return InPlace(
        acquire=functools.partial(_acquire, path), release=functools.partial(_release, path)
    )


DUCKDB = WarehouseKind(
    "duckdb",
    open=lambda target: DuckDBWarehouse(duckdb_path(target)),
    analytics_access=lambda target: in_place_access(duckdb_path(target)),
)
