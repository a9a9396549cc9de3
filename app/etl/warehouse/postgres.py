"""The PostgreSQL warehouse: tables in schema `warehouse`, loaded by COPY in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import asyncpg
import polars as pl

from app.errors import WarehouseError
from app.etl.errors import SchemaMismatch, TableNotFound
from app.etl.names import qualified, quote_ident
from app.etl.warehouse.naming import check_columns, check_table, describe_mismatch, staging_table
from app.etl.warehouse.pg_copy import CopyPipeline
from app.etl.warehouse.pg_errors import pg_errors
from app.etl.warehouse.pg_types import encode_csv, pg_type, polars_type
from app.etl.warehouse.sql import select_from

if TYPE_CHECKING:
    from app.etl.warehouse.protocol import Mode

SCHEMA = "warehouse"
CONNECT_TIMEOUT = 10.0
ROLLBACK_TIMEOUT = 10.0

_COLUMNS_SQL = """
SELECT column_name, data_type, numeric_precision, numeric_scale
FROM information_schema.columns
WHERE table_schema = $1 AND table_name = $2
ORDER BY ordinal_position
"""


class PostgresWarehouse:
    """A connection per operation: loads are long and few, so a pool buys little here."""

    def __init__(self, dsn: str, *, schema: str = SCHEMA) -> None:
        # asyncpg speaks libpq URLs, not SQLAlchemy's driver-qualified scheme.
        self._dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._schema = schema

    async def _connect(self) -> Any:
        with pg_errors("cannot connect to the warehouse"):
            return await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT)

    async def begin_load(self, *, table: str, mode: Mode, run_id: str) -> PostgresTableLoad:
        check_table(table)
        connection = await self._connect()
        try:
            with pg_errors(f"cannot start the load into {table}"):
                transaction = connection.transaction()
                await transaction.start()
                await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self._schema)}")
                # Zoned timestamps are sent as UTC wall time (see encode_csv).
                await connection.execute("SET LOCAL TIME ZONE 'UTC'")
                # Loads into one table queue up instead of racing to create or swap it.
                await connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"{self._schema}.{table}"
                )
        except BaseException:
            connection.terminate()
            raise
        return PostgresTableLoad(
            connection, transaction, schema=self._schema, table=table, mode=mode, run_id=run_id
        )

    async def read_table(self, table: str) -> pl.DataFrame:
        check_table(table)
        connection = await self._connect()
        try:
            with pg_errors(f"cannot read {table}"):
                return await self._read(connection, table)
        finally:
            await _close(connection)

    async def _read(self, connection: Any, table: str) -> pl.DataFrame:
        columns = await connection.fetch(_COLUMNS_SQL, self._schema, table)
        if not columns:
            raise TableNotFound(f"the warehouse has no table {table}")
        schema = pl.Schema({row[0]: polars_type(row[1], row[2], row[3]) for row in columns})
        # Booleans come out of COPY as t/f, which Polars does not read; text says true/false.
        select = ", ".join(
            f"{quote_ident(row[0])}::text" if row[1] == "boolean" else quote_ident(row[0])
            for row in columns
        )
        await connection.execute("SET TIME ZONE 'UTC'")
        sink = _Buffer()
        await connection.copy_from_query(
            select_from(qualified(self._schema, table), select),
            output=sink.write,
            format="csv",
        )
        return _frame_from_csv(
            bytes(sink.data), schema, booleans=[row[0] for row in columns if row[1] == "boolean"]
        )

    async def table_exists(self, table: str) -> bool:
        check_table(table)
        connection = await self._connect()
        try:
            with pg_errors(f"cannot look up {table}"):
                return bool(await connection.fetch(_COLUMNS_SQL, self._schema, table))
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


def _frame_from_csv(data: bytes, schema: pl.Schema, *, booleans: list[str]) -> pl.DataFrame:
    read_schema = {
        name: pl.String() if name in booleans else dtype for name, dtype in schema.items()
    }
    if not data:
        return pl.DataFrame(schema=schema)
    frame = pl.read_csv(data, has_header=False, schema=read_schema)
    return frame.with_columns(
        pl.col(booleans).replace_strict({"true": True, "false": False}, return_dtype=pl.Boolean)
    )


async def _close(connection: Any) -> None:
    with contextlib.suppress(Exception):
        await connection.close(timeout=ROLLBACK_TIMEOUT)


class PostgresTableLoad:
    """One transaction on one connection; each batch is one COPY.

    Batches are serialised to CSV in a thread while earlier ones stream through COPY,
    so the server, the bottleneck, never waits for the client.
    """

    def __init__(
        self,
        connection: Any,
        transaction: Any,
        *,
        schema: str,
        table: str,
        mode: Mode,
        run_id: str,
    ) -> None:
        self._connection = connection
        self._transaction = transaction
        self._schema = schema
        self._table = table
        self._mode = mode
        self._target = staging_table(table, run_id) if mode == "replace" else table
        self._columns: list[str] | None = None
        self._created = False
        self._copies = CopyPipeline(self._copy)
        self._finished = False

    async def write(self, batch: pl.DataFrame) -> None:
        if self._finished:
            raise WarehouseError(f"the load into {self._table} is already finished")
        payload = await asyncio.to_thread(encode_csv, batch)
        await self._prepare(batch)
        if batch.height:
            await self._copies.put(payload, batch.columns)

    async def _copy(self, payload: bytes, columns: list[str]) -> None:
        with pg_errors(f"cannot load into {self._table}"):
            await self._connection.copy_to_table(
                self._target,
                schema_name=self._schema,
                # A memoryview, not bytes: asyncpg would take bytes for a file path.
                source=memoryview(payload),
                columns=columns,
                format="csv",
                # Allowed (and cheaper for the server) when the table is this transaction's.
                freeze=self._created,
            )

    async def _prepare(self, batch: pl.DataFrame) -> None:
        """Create or check the target table, once, from the first batch's schema.

        Only the first batch queries the connection, before any COPY is under way.
        """
        if self._columns is not None:
            mismatch = describe_mismatch(self._table, self._columns, batch.columns)
            if mismatch:
                raise SchemaMismatch(mismatch)
            return
        columns = check_columns(batch.columns)
        with pg_errors(f"cannot prepare {self._table}"):
            existing = [
                row[0]
                for row in await self._connection.fetch(_COLUMNS_SQL, self._schema, self._target)
            ]
            if existing and self._mode == "append":
                mismatch = describe_mismatch(self._table, existing, columns)
                if mismatch:
                    raise SchemaMismatch(mismatch)
            else:
                await self._connection.execute(self._create_sql(batch.schema))
                self._created = True
        self._columns = columns

    def _create_sql(self, schema: pl.Schema) -> str:
        columns = ", ".join(
            f"{quote_ident(name)} {pg_type(dtype)}" for name, dtype in schema.items()
        )
        return f"CREATE TABLE {qualified(self._schema, self._target)} ({columns})"

    async def commit(self) -> None:
        if self._finished:
            raise WarehouseError(f"the load into {self._table} is already finished")
        try:
            await self._copies.finish()
            with pg_errors(f"cannot commit the load into {self._table}"):
                await self._swap_in()
                await self._transaction.commit()
        except BaseException:
            await self.abort()
            raise
        self._finished = True
        await _close(self._connection)

    async def _swap_in(self) -> None:
        """For replace: the staging table takes the table's name inside the transaction."""
        if self._mode != "replace":
            return
        target = qualified(self._schema, self._table)
        if self._columns is None:
            # Nothing was written: replacing with nothing empties the table, keeping it.
            if await self._connection.fetch(_COLUMNS_SQL, self._schema, self._table):
                await self._connection.execute(f"TRUNCATE {target}")
            return
        await self._connection.execute(f"DROP TABLE IF EXISTS {target}")
        await self._connection.execute(
            f"ALTER TABLE {qualified(self._schema, self._target)} "
            f"RENAME TO {quote_ident(self._table)}"
        )

    async def abort(self) -> None:
        if self._finished:
            return
        self._finished = True
        await self._copies.cancel()
        try:
            await asyncio.wait_for(self._transaction.rollback(), ROLLBACK_TIMEOUT)
        except Exception:
            self._connection.terminate()
            return
        await _close(self._connection)
