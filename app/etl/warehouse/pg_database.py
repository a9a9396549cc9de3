"""The staged load's operations on one asyncpg connection to the PostgreSQL warehouse."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import polars as pl

from app.etl.names import qualified, quote_ident
from app.etl.warehouse.merge import upsert_on_conflict
from app.etl.warehouse.pg_binary import encode_binary
from app.etl.warehouse.pg_errors import pg_errors
from app.etl.warehouse.pg_types import column_dtype, encode_csv, pg_type, stored_dtype

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from app.etl.warehouse.merge import Merge

CLOSE_TIMEOUT = 10.0

COLUMNS_SQL = """
SELECT column_name, data_type, numeric_precision, numeric_scale
FROM information_schema.columns
WHERE table_schema = $1 AND table_name = $2
ORDER BY ordinal_position
"""


class PgDatabase:
    # A crash empties unlogged tables; the ledger notices and the run starts afresh.
    unlogged_staging = True
    # jsonb: the rejects API filters on fields of the raw row.
    raw_rows_type = "jsonb"

    def __init__(self, connection: Any, schema: str, connect: Callable[[], Awaitable[Any]]) -> None:
        self.connection = connection
        self.schema = schema
        self._connect = connect

    def qualify(self, name: str) -> str:
        return qualified(self.schema, name)

    def errors(self, action: str) -> contextlib.AbstractContextManager[None]:
        return pg_errors(action)

    async def execute(self, sql: str, *args: Any) -> None:
        await self.connection.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self.connection.fetch(sql, *args)]

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self.connection.transaction():
            yield

    async def table_schema(self, table: str) -> pl.Schema | None:
        rows = await self.connection.fetch(COLUMNS_SQL, self.schema, table)
        if not rows:
            return None
        return pl.Schema({row[0]: column_dtype(row[1], row[2], row[3]) for row in rows})

    def raw_as_text(self, column: str) -> str:
        return f"{quote_ident(column)}::text"

    def raw_field_text(self, column: str, field: str, bind: Callable[[Any], str]) -> str:
        return f"({quote_ident(column)} #>> {bind([field])}::text[])"

    def widen_column_sql(self, table_sql: str, column: str, sql_type: str) -> str:
        # PostgreSQL converts only what it casts implicitly unless told how.
        ident = quote_ident(column)
        using = f"USING {ident}::{sql_type}"
        return f"ALTER TABLE {table_sql} ALTER COLUMN {ident} TYPE {sql_type} {using}"

    def lookup_index_sql(self, table_sql: str, index: str, columns: list[str]) -> str | None:
        names = ", ".join(quote_ident(name) for name in columns)
        return f"CREATE INDEX IF NOT EXISTS {quote_ident(index)} ON {table_sql} ({names})"

    def merge_statements(self, merge: Merge) -> list[str]:
        return upsert_on_conflict(merge)

    async def lock_for_ddl(self, name: str) -> None:
        await self.connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)

    def stored_dtype(self, dtype: pl.DataType) -> pl.DataType:
        return stored_dtype(dtype)

    def sql_type(self, dtype: pl.DataType) -> str:
        return pg_type(dtype)

    def encode(self, frame: pl.DataFrame, *, exact: bool = True) -> tuple[str, bytes]:
        if exact:
            sql_types = [pg_type(dtype) for dtype in frame.schema.values()]
            binary = encode_binary(frame, sql_types)
            if binary is not None:
                return "binary", binary
        return "csv", encode_csv(frame)

    async def insert_encoded(
        self, table: str, columns: list[str], payload: Any, *, fresh: bool
    ) -> None:
        form, data = payload
        await self.connection.copy_to_table(
            table,
            schema_name=self.schema,
            # A memoryview, not bytes: asyncpg would take bytes for a file path.
            source=memoryview(data),
            columns=columns,
            format=form,
            # Allowed (and cheaper for the server) when the table is this transaction's.
            freeze=fresh,
        )

    async def lock_table(self, table: str) -> None:
        # Session level: held across the load's many transactions, released by closing
        # the connection, so a dead worker never keeps it.
        await self.connection.execute(
            "SELECT pg_advisory_lock(hashtext($1))", f"{self.schema}.{table}"
        )

    async def reset(self) -> None:
        # The server rolls back a terminated session's transaction and frees its locks.
        self.connection.terminate()
        self.connection = await self._connect()

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.connection.close(), CLOSE_TIMEOUT)
        except Exception:
            self.connection.terminate()
