"""The staged load's operations on one DuckDB cursor, each run in a worker thread."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import duckdb

from app.errors import DataFlowError, WarehouseError, WarehouseUnavailable
from app.etl.names import quote_ident
from app.etl.warehouse.apply import column_list
from app.etl.warehouse.duckdb_types import duck_stored_dtype, duck_type

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    import polars as pl

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

    dialect: Literal["duckdb"] = "duckdb"

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
