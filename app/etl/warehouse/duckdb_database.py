"""The staged load's operations on one DuckDB cursor, each run in a worker thread."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from app.errors import DataFlowError, WarehouseError, WarehouseUnavailable
from app.etl.names import quote_ident
from app.etl.warehouse.duckdb_types import duck_stored_dtype, duck_type
from app.etl.warehouse.merge import merge_into
from app.etl.warehouse.sql import column_list

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    import polars as pl

    from app.etl.warehouse.merge import Merge

_T = TypeVar("_T")
_VIEW_IDS = itertools.count()

TABLE_EXISTS_SQL = (
    "SELECT 1 FROM information_schema.tables WHERE table_schema = 'main' AND table_name = $1"
)


@contextlib.contextmanager
def duckdb_errors(action: str) -> Iterator[None]:
    """DuckDB's exceptions as the warehouse's typed errors."""
    try:
        yield
    except DataFlowError:
        raise
    except (duckdb.IOException, duckdb.TransactionException) as error:
        # Another process holds the file's lock, or a concurrent write conflicted with
        # this one: both may pass.
        raise WarehouseUnavailable.from_driver(action, error) from error
    except duckdb.Error as error:
        raise WarehouseError.from_driver(action, error) from error


class DuckDBDatabase:
    """One cursor (a DuckDB connection with its own transaction) for one load."""

    # DuckDB has no unlogged tables: its write-ahead log is per database.
    unlogged_staging = False
    # Text holding JSON: DuckDB's json functions read it as it is.
    raw_rows_type = "text"

    def __init__(
        self,
        cursor: duckdb.DuckDBPyConnection,
        new_cursor: Callable[[], duckdb.DuckDBPyConnection],
    ) -> None:
        self.cursor = cursor
        self._new_cursor = new_cursor
        # A cancelled caller does not stop its thread: the next call waits for it
        # rather than using the cursor alongside it.
        self._lock = threading.Lock()

    async def _run(self, function: Callable[[], _T]) -> _T:
        """Run in a thread; a cancelled caller still waits for the thread to finish, so
        the cursor is idle again (and its state known) when the cancellation lands."""

        def locked() -> _T:
            with self._lock:
                return function()

        future = asyncio.ensure_future(asyncio.to_thread(locked))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await future
            raise

    def qualify(self, name: str) -> str:
        return quote_ident(name)

    def errors(self, action: str) -> contextlib.AbstractContextManager[None]:
        return duckdb_errors(action)

    async def execute(self, sql: str, *args: Any) -> None:
        await self._run(lambda: self.cursor.execute(sql, list(args)))

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return await self._run(lambda: self.cursor.execute(sql, list(args)).fetchall())

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        try:
            await self._run(self.cursor.begin)
            yield
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                await self._run(self.cursor.rollback)
            raise
        await self._run(self.cursor.commit)

    async def table_schema(self, table: str) -> pl.Schema | None:
        def read() -> pl.Schema | None:
            if not self.cursor.execute(TABLE_EXISTS_SQL, [table]).fetchall():
                return None
            self.cursor.execute("SET TimeZone = 'UTC'")
            return self.cursor.execute(f"SELECT * FROM {quote_ident(table)} LIMIT 0").pl().schema  # noqa: S608

        return await self._run(read)

    def raw_as_text(self, column: str) -> str:
        return quote_ident(column)

    def raw_field_text(self, column: str, field: str, bind: Callable[[Any], str]) -> str:
        pointer = "/" + field.replace("~", "~0").replace("/", "~1")  # a JSON pointer
        return f"json_extract_string({quote_ident(column)}, {bind(pointer)})"

    def widen_column_sql(self, table_sql: str, column: str, sql_type: str) -> str:
        # DuckDB converts the values with the same cast on its own.
        return f"ALTER TABLE {table_sql} ALTER COLUMN {quote_ident(column)} TYPE {sql_type}"

    def lookup_index_sql(self, table_sql: str, index: str, columns: list[str]) -> str | None:
        # A run's rejects arrive together, so DuckDB's min/max zone maps already skip
        # to them; an ART index would cost every bulk insert and delete.
        del table_sql, index, columns
        return None

    def merge_statements(self, merge: Merge) -> list[str]:
        return merge_into(merge)

    async def lock_for_ddl(self, name: str) -> None:
        """One process holds the file (DuckDBWarehouse creates the ledger under its lock)."""
        del name

    def stored_dtype(self, dtype: pl.DataType) -> pl.DataType:
        return duck_stored_dtype(dtype)

    def sql_type(self, dtype: pl.DataType) -> str:
        return duck_type(dtype)

    def encode(self, frame: pl.DataFrame, *, exact: bool = True) -> Any:
        del exact  # Arrow keeps every type as it is
        return frame.to_arrow()

    async def insert_encoded(
        self, table: str, columns: list[str], payload: Any, *, fresh: bool
    ) -> None:
        del fresh  # DuckDB has no cheaper path for a new table
        view = f"_batch_{next(_VIEW_IDS)}"

        def insert() -> None:
            self.cursor.register(view, payload)
            try:
                names = column_list(columns)
                self.cursor.execute(
                    f"INSERT INTO {quote_ident(table)} ({names}) SELECT {names} FROM {view}"  # noqa: S608
                )
            finally:
                self.cursor.unregister(view)

        await self._run(insert)

    async def lock_table(self, table: str) -> None:
        """DuckDB serialises writers itself: a conflicting apply fails and is retried."""
        del table

    async def reset(self) -> None:
        # Closing a cursor rolls back its transaction; a new cursor starts clean.
        old = self.cursor
        with contextlib.suppress(duckdb.Error):
            await self._run(old.close)
        self.cursor = await self._run(self._new_cursor)
        await self._run(lambda: self.cursor.execute("SET TimeZone = 'UTC'"))

    async def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            await self._run(self.cursor.close)
