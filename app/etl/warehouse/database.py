"""The few operations a staged load needs from a backend, so the load is written once.

Where backends differ in SQL (types, casts, JSON, locks, the merge), the difference is a
method or flag here, answered by the backend's own `Database`: shared code never asks
which backend it is talking to (dlt's destination capabilities, the same idea).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager, AbstractContextManager

    import polars as pl

    from app.etl.warehouse.merge import Merge


class Database(Protocol):
    """One connection to a warehouse, used by one load at a time.

    Statements take `$n` parameters. Raw driver errors come out of the methods; wrap the
    calls in `errors(action)` to turn them into typed warehouse errors.
    """

    @property
    def unlogged_staging(self) -> bool:
        """Whether staging the apply only copies from may skip the write-ahead log."""
        ...

    @property
    def raw_rows_type(self) -> str:
        """The SQL type the rejects table keeps a rejected row's raw values in."""
        ...

    def raw_as_text(self, column: str) -> str:
        """`column` (raw values) read back as the JSON text it was written as."""
        ...

    def raw_field_text(self, column: str, field: str, bind: Callable[[Any], str]) -> str:
        """The text of `field` of the JSON in `column` (NULL without it); `bind` adds a
        parameter and returns its placeholder."""
        ...

    def widen_column_sql(self, table_sql: str, column: str, sql_type: str) -> str:
        """ALTER TABLE that makes `column` (unquoted) `sql_type`, converting its values."""
        ...

    def lookup_index_sql(self, table_sql: str, index: str, columns: list[str]) -> str | None:
        """CREATE INDEX for lookups by `columns`, or None where an index does not pay."""
        ...

    def merge_statements(self, merge: Merge) -> list[str]:
        """The statements that merge a run's staging into its table (see `merge`)."""
        ...

    async def lock_for_ddl(self, name: str) -> None:
        """Hold `name` until the transaction ends, so two first loads do not race to
        create the same tables."""
        ...

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
