"""The warehouse interface the engine loads through, whatever the backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    import polars as pl

Mode = Literal["append", "replace"]


class TableLoad(Protocol):
    """One load into one table: invisible to readers until `commit`."""

    async def write(self, batch: pl.DataFrame) -> None: ...

    async def commit(self) -> None:
        """Make everything written visible at once."""
        ...

    async def abort(self) -> None:
        """Leave the table exactly as it was before the load (a no-op once finished)."""
        ...


class Warehouse(Protocol):
    async def begin_load(self, *, table: str, mode: Mode, run_id: str) -> TableLoad: ...

    async def read_table(self, table: str) -> pl.DataFrame:
        """The whole table (tests, previews); a missing one raises `TableNotFound`."""
        ...

    async def table_exists(self, table: str) -> bool: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
