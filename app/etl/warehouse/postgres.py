"""The PostgreSQL warehouse: tables in schema `warehouse`, loaded by COPY through staging."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import asyncpg
import polars as pl

from app.etl.errors import TableNotFound
from app.etl.names import qualified, quote_ident
from app.etl.warehouse.analytics_access import ScannedReplica
from app.etl.warehouse.kinds import WarehouseKind
from app.etl.warehouse.naming import check_table
from app.etl.warehouse.pg_database import COLUMNS_SQL, PgDatabase
from app.etl.warehouse.pg_errors import pg_errors
from app.etl.warehouse.pg_types import polars_type
from app.etl.warehouse.row_reads import (
    Params,
    RowFilter,
    RowsRead,
    count_sql,
    select_sql,
    where_sql,
)
from app.etl.warehouse.run_operations import RunOperations
from app.etl.warehouse.sql import select_from

if TYPE_CHECKING:
    from collections.abc import Sequence

SCHEMA = "warehouse"
CONNECT_TIMEOUT = 10.0
ROLLBACK_TIMEOUT = 10.0
# How long a load waits for another load of the same table before giving up (to retry).
LOCK_TIMEOUT = "10min"


def libpq_url(target: str) -> str:
    """asyncpg and DuckDB's scanner speak libpq URLs, not SQLAlchemy's driver scheme."""
    return target.replace("postgresql+asyncpg://", "postgresql://", 1)


class PostgresWarehouse(RunOperations[PgDatabase]):
    """A connection per operation: loads are long and few, so a pool buys little here."""

    def __init__(self, dsn: str, *, schema: str = SCHEMA) -> None:
        self._dsn = libpq_url(dsn)
        self._schema = schema

    async def _connect(self) -> Any:
        with pg_errors("cannot connect to the warehouse"):
            return await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT)

    async def _database(self) -> PgDatabase:
        return PgDatabase(await self._load_connection(), self._schema, self._load_connection)

    async def _load_connection(self) -> Any:
        """A connection ready for loads: UTC session, schema present, bounded lock waits."""
        connection = await self._connect()
        try:
            with pg_errors("cannot prepare the warehouse"):
                # Zoned timestamps are sent as UTC wall time (see encode_csv).
                await connection.execute("SET TIME ZONE 'UTC'")
                await connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
                await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self._schema)}")
        except BaseException:
            connection.terminate()
            raise
        return connection

    async def _abandon(self, db: PgDatabase) -> None:
        # Not an orderly close: the load may hold the table's lock on a connection left
        # mid-statement, and terminating frees it at once.
        db.connection.terminate()

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
        connection = await self._connect()
        try:
            with pg_errors(f"cannot read {table}"):
                columns = await connection.fetch(COLUMNS_SQL, self._schema, table)
                if not columns:
                    raise TableNotFound(f"the warehouse has no table {table}")
                await connection.execute("SET TIME ZONE 'UTC'")
                if where or limit is not None:
                    frame = await self._select(connection, table, columns, where, limit)
                else:
                    frame = await self._read(connection, table, columns)
                total = await self._count(connection, table, columns, where) if count else None
                return RowsRead(frame, total)
        finally:
            await _close(connection)

    async def _read(self, connection: Any, table: str, columns: list[Any]) -> pl.DataFrame:
        """The whole table, by COPY (the fastest way out of PostgreSQL)."""
        schema = _schema(columns)
        sink = _Buffer()
        await connection.copy_from_query(
            select_from(qualified(self._schema, table), _select_list(columns)),
            output=sink.write,
            format="csv",
        )
        booleans = [row[0] for row in columns if row[1] == "boolean"]
        return await asyncio.to_thread(_frame_from_csv, bytes(sink.data), schema, booleans)

    async def _select(
        self,
        connection: Any,
        table: str,
        columns: list[Any],
        where: Sequence[RowFilter],
        limit: int | None,
    ) -> pl.DataFrame:
        """Rows matching `where`, at most `limit`, read with bound parameters (COPY takes
        none); the LIMIT runs in PostgreSQL, so only those rows leave it."""
        params = Params()
        condition = where_sql(table, where, _text_columns(columns), params)
        sql = select_sql(
            qualified(self._schema, table), _select_list(columns), condition, limit, params
        )
        records = await connection.fetch(sql, *params.values)
        schema = _schema(columns)
        booleans = [row[0] for row in columns if row[1] == "boolean"]
        read_schema = {
            name: pl.String() if name in booleans else dtype for name, dtype in schema.items()
        }
        frame = pl.DataFrame([tuple(r) for r in records], schema=read_schema, orient="row")
        return _booleans(frame, booleans)

    async def _count(
        self, connection: Any, table: str, columns: list[Any], where: Sequence[RowFilter]
    ) -> int:
        params = Params()
        condition = where_sql(table, where, _text_columns(columns), params)
        sql = count_sql(qualified(self._schema, table), condition)
        return int(await connection.fetchval(sql, *params.values))

    async def table_exists(self, table: str) -> bool:
        check_table(table)
        connection = await self._connect()
        try:
            with pg_errors(f"cannot look up {table}"):
                return bool(await connection.fetch(COLUMNS_SQL, self._schema, table))
        finally:
            await _close(connection)

    async def ping(self) -> None:
        connection = await self._connect()
        try:
            with pg_errors("the warehouse does not answer"):
                await connection.execute("SELECT 1")
        finally:
            await _close(connection)

    async def close(self) -> None:
        """Nothing is held between operations."""


class _Buffer:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, chunk: bytes) -> None:
        self.data += chunk


def _schema(columns: list[Any]) -> pl.Schema:
    return pl.Schema({row[0]: polars_type(row[1], row[2], row[3]) for row in columns})


def _select_list(columns: list[Any]) -> str:
    """Every column; those Polars reads as text (booleans: COPY says t/f, which Polars
    does not read; jsonb, uuid, ...) are sent as text."""
    return ", ".join(
        quote_ident(row[0]) if _typed(row) else f"{quote_ident(row[0])}::text" for row in columns
    )


def _typed(row: Any) -> bool:
    return row[1] != "boolean" and polars_type(row[1], row[2], row[3]) != pl.String()


def _text_columns(columns: list[Any]) -> dict[str, bool]:
    return {row[0]: row[1] in {"text", "character varying", "character"} for row in columns}


def _booleans(frame: pl.DataFrame, booleans: list[str]) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(booleans).replace_strict({"true": True, "false": False}, return_dtype=pl.Boolean)
    )


def _frame_from_csv(data: bytes, schema: pl.Schema, booleans: list[str]) -> pl.DataFrame:
    read_schema = {
        name: pl.String() if name in booleans else dtype for name, dtype in schema.items()
    }
    if not data:
        return pl.DataFrame(schema=schema)
    return _booleans(pl.read_csv(data, has_header=False, schema=read_schema), booleans)


async def _close(connection: Any) -> None:
    with contextlib.suppress(Exception):
        await connection.close(timeout=ROLLBACK_TIMEOUT)


def scanned_replica(target: str) -> ScannedReplica:
    """Analytics reads a Parquet replica, exported through DuckDB's postgres_scanner."""
    return ScannedReplica("postgres_scanner", "postgres_scan", (libpq_url(target), SCHEMA))


POSTGRES = WarehouseKind("postgresql", open=PostgresWarehouse, analytics_access=scanned_replica)
