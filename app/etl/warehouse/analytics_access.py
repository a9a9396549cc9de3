"""How analytics reads a warehouse's tables, as each warehouse answers it.

Analytics runs its statements in DuckDB. A warehouse is one of two kinds to it:

- `InPlace`: the warehouse is a DuckDB database this process holds; analytics reads the
  tables themselves, on cursors of the connection the warehouse lends (DuckDB lets a
  process open a file once, so a second connection of its own is not an option).
- `ScannedReplica`: DuckDB reads the warehouse through one of its scanner extensions;
  that is too slow per query (see DESIGN.md, section 5), so after each load analytics
  exports the scan to a Parquet replica and queries read the replica.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import duckdb


@dataclass(frozen=True, slots=True)
class InPlace:
    """A DuckDB warehouse: its connection lent (counted) and given back."""

    acquire: Callable[[], duckdb.DuckDBPyConnection]
    """The process's connection to the warehouse; each call must be `release`d."""
    release: Callable[[], None]

    def relation(self, table: str) -> tuple[str, ...]:
        """The table's name parts as analytics statements name it."""
        return (table,)

    @contextlib.contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the lent connection, given back on exit; blocking."""
        connection = self.acquire()
        try:
            with connection.cursor() as cursor:
                yield cursor
        finally:
            self.release()


@dataclass(frozen=True, slots=True)
class ScannedReplica:
    """A warehouse DuckDB reads through `extension`'s `function(*arguments, table)`."""

    extension: str
    """The DuckDB extension that scans it (shipped as a `duckdb-extension-*` package)."""
    function: str
    arguments: tuple[str, ...]
    """Bound before the table's name (a connection URL, a schema)."""

    def scan_sql(self, table: str, bind: Callable[[Any], str]) -> str:
        """The table function reading `table`; `bind` adds a parameter, returns its slot."""
        slots = ", ".join(bind(value) for value in (*self.arguments, table))
        return f"{self.function}({slots})"


AnalyticsAccess = InPlace | ScannedReplica
