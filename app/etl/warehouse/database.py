"""The few operations a staged load needs from a backend, so the load is written once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager, AbstractContextManager

    import polars as pl

Dialect = Literal["postgres", "duckdb"]


class Database(Protocol):
    """One connection to a warehouse, used by one load at a time.

    Statements take `$n` parameters. Raw driver errors come out of the methods; wrap the
    calls in `errors(action)` to turn them into typed warehouse errors.
    """

    @property
    def dialect(self) -> Dialect: ...

    def qualify(self, name: str) -> str:
        """The quoted (and schema-qualified) name of a warehouse table."""
        ...

    def errors(self, action: str) -> AbstractContextManager[None]: ...

    async def execute(self, sql: str, *args: Any) -> None: ...

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]: ...

    def transaction(self) -> AbstractAsyncContextManager[None]: ...

    async def table_schema(self, table: str) -> pl.Schema | None:
        """The table's columns as the Polars types they hold, or None without a table."""
        ...

    def stored_dtype(self, dtype: pl.DataType) -> pl.DataType:
        """The type a column of `dtype` has once stored (and read back)."""
        ...

    def sql_type(self, dtype: pl.DataType) -> str: ...

    def encode(self, frame: pl.DataFrame, *, exact: bool = True) -> Any:
        """The batch in the form `insert_encoded` sends (blocking: call it in a thread).

        `exact=False` when the table's columns may not be the frame's own types (the
        rejects table keeps raw rows as JSON): a text form lets the server convert.
        """
        ...

    async def insert_encoded(
        self, table: str, columns: list[str], payload: Any, *, fresh: bool
    ) -> None:
        """Insert an encoded batch; `fresh` says the table was created in this transaction."""
        ...

    async def lock_table(self, table: str) -> None:
        """Wait until no other load holds `table`, then hold it until `close`."""
        ...

    async def reset(self) -> None:
        """Abandon whatever the connection was doing (its transaction rolls back) and
        carry on with a fresh one; after a cancelled statement, the only safe state."""
        ...

    async def close(self) -> None: ...
