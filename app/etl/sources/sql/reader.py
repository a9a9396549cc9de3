"""The reader of the `sql` kind: one SELECT, streamed through a server-side cursor.

The query runs in a READ ONLY, REPEATABLE READ transaction, so it cannot write and its
batches see one snapshot. Values are always bound (`$1`...), never spliced into SQL.
The watermark is pushed down by wrapping the query, never by editing it:

    SELECT "a", "b"::text FROM (<query>) AS _dataflow_q WHERE "updated_at" > $n

where `$n` follows the query's own params and the column name is one the query
returns (quoted as an identifier). Columns of types Polars has no equal for are
selected as text in the same wrapper.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import polars as pl

from app.errors import DataFlowError, SourceInvalid, SourceUnreadable
from app.etl.sources.batching import rebatch
from app.etl.sources.errors import SourceRequestFailed, SourceUnavailable
from app.etl.sources.netguard import resolve
from app.etl.sources.reader import ROW_COLUMN, SOURCE_COLUMN
from app.etl.sources.sql.types import coerce, polars_type, selects_as_text
from app.etl.sources.templates import PLACEHOLDER, param_text

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from app.etl.sources.reader import ReadContext
    from app.etl.sources.sql.config import SqlSource

QUERY_LOCATION = "query"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqlReader:
    def __init__(self, config: SqlSource, context: ReadContext) -> None:
        self._config = config
        self._options = config.options
        self._context = context
        self._connection: Any = None
        self._transaction: Any = None
        self._statement: Any = None
        self._args: list[Any] = []
        self._schema: pl.Schema | None = None

    async def schema(self) -> pl.Schema:
        if self._schema is None:
            try:
                await self._prepare()
            except DataFlowError:
                raise
            except Exception as error:
                raise sql_error(error) from None
        assert self._schema is not None
        return self._schema

    async def _prepare(self) -> None:
        self._connection = await self._connect()
        self._transaction = self._connection.transaction(isolation="repeatable_read", readonly=True)
        await self._transaction.start()
        query = self._options.query.strip().rstrip(";")
        inner = await self._connection.prepare(query)
        columns = [(a.name, a.type.name) for a in inner.get_attributes()]
        _check_unique(columns)
        self._args = self._bound_params([p.name for p in inner.get_parameters()])
        wrapped = self._wrapped(query, columns)
        self._statement = await self._connection.prepare(wrapped)
        self._schema = pl.Schema({name: polars_type(pg_type) for name, pg_type in columns})

    def _wrapped(self, query: str, columns: list[tuple[str, str]]) -> str:
        selected = ", ".join(
            quote_identifier(name) + ("::text" if selects_as_text(pg_type) else "")
            for name, pg_type in columns
        )
        # The query is the source itself (run read-only); names are quoted, values bound.
        sql = f"SELECT {selected} FROM (\n{query}\n) AS _dataflow_q"  # noqa: S608
        watermark = self._context.watermark
        types = dict(columns)
        if watermark is not None and watermark.column in types:
            value = coerce(watermark.value, types[watermark.column], "watermark")
            self._args.append(value)
            sql += f" WHERE {quote_identifier(watermark.column)} > ${len(self._args)}"
        return sql

    def _bound_params(self, pg_types: list[str]) -> list[Any]:
        params = self._options.params
        if len(params) != len(pg_types):
            raise SourceInvalid(
                f"the query has {len(pg_types)} parameter(s) ($1...) but options.params has "
                f"{len(params)}",
                path=["options", "params"],
            )
        values = []
        for index, (value, pg_type) in enumerate(zip(params, pg_types, strict=True)):
            match = PLACEHOLDER.fullmatch(value) if isinstance(value, str) else None
            given = param_text(match.group(1), self._context.params) if match else value
            values.append(coerce(given, pg_type, f"options.params.{index}"))
        return values

    async def _connect(self) -> Any:
        parts = urlsplit(self._config.uri)
        for host in (parts.hostname or "").split(","):
            await resolve(
                host, parts.port or 5432, allow_private=self._config.allow_private_networks
            )
        password = self._options.password.resolve() if self._options.password else None
        settings = {"application_name": "dataflow-source"}
        if self._options.statement_timeout_seconds:
            settings["statement_timeout"] = str(int(self._options.statement_timeout_seconds * 1000))
        # SQLAlchemy's spelling of the same DSN is accepted; asyncpg wants the plain one.
        dsn = self._config.uri.replace("postgresql+asyncpg://", "postgresql://", 1)
        import asyncpg  # here, not above: a kind's library loads when it is read

        return await asyncpg.connect(
            dsn,
            password=password,
            timeout=self._options.connect_timeout_seconds,
            server_settings=settings,
        )

    async def batches(self, batch_rows: int) -> AsyncIterator[pl.DataFrame]:
        schema = await self.schema()
        async for batch in rebatch(self._frames(schema, batch_rows), batch_rows):
            yield batch

    async def _frames(self, schema: pl.Schema, batch_rows: int) -> AsyncIterator[pl.DataFrame]:
        try:
            cursor = await self._statement.cursor(*self._args)
            row = 1
            while records := await cursor.fetch(batch_rows):
                frame = await asyncio.to_thread(_frame, records, schema, row)
                row += frame.height
                yield frame
        except DataFlowError:
            raise
        except Exception as error:
            raise sql_error(error) from None

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Read only: rolling back loses nothing; closing ends the cursor and snapshot.
            await connection.close(timeout=5)


def _frame(records: list[Any], schema: pl.Schema, first_row: int) -> pl.DataFrame:
    # asyncpg has decoded each row into Python values already; they are regrouped into
    # columns by zip (C, no Python loop per row) and typed by the query's own types.
    columns = zip(*records, strict=True)
    frame = pl.DataFrame(
        [
            pl.Series(name, values, dtype)
            for (name, dtype), values in zip(schema.items(), columns, strict=True)
        ]
    )
    rows = pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64, eager=True)
    return frame.with_columns(
        pl.lit(QUERY_LOCATION, pl.String).alias(SOURCE_COLUMN), rows.alias(ROW_COLUMN)
    )


def _check_unique(columns: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for name, _ in columns:
        if name in seen:
            raise SourceInvalid(
                f"the query returns column `{name}` twice; give each column its own name (AS ...)",
                path=["options", "query"],
            )
        seen.add(name)


def sql_error(error: Exception) -> DataFlowError:
    """A database failure as a typed error: transient when trying later could help."""
    import asyncpg  # here, not above: a kind's library loads when it is read

    if isinstance(
        error, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError
    ):
        return SourceRequestFailed(f"the database refused the login: {error}")
    if isinstance(error, asyncpg.ReadOnlySQLTransactionError):
        return SourceInvalid(
            "an sql source only reads: the query tried to write", path=["options", "query"]
        )
    if isinstance(error, asyncpg.QueryCanceledError):
        return SourceUnreadable(
            f"the query was cancelled ({error}); raise statement_timeout_seconds"
        )
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = getattr(error, "sqlstate", "") or ""
        if sqlstate.startswith(("08", "40", "53", "57P")):  # connection, serialization, resources
            return SourceUnavailable(f"the database is unavailable ({error})")
        return SourceInvalid(f"the query failed: {error}", path=["options", "query"])
    if isinstance(error, OSError | asyncio.TimeoutError | asyncpg.InterfaceError):
        return SourceUnavailable(f"cannot reach the database ({error})")
    if isinstance(error, asyncpg.exceptions.InternalClientError):
        # How asyncpg words a backend the server terminated while the connection idled.
        return SourceUnavailable("the database closed the connection")
    return SourceUnreadable(f"the query failed: {error}")
