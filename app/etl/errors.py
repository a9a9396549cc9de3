"""ETL-specific errors, refinements of the shared hierarchy in `app.errors`."""

from __future__ import annotations

from app.errors import NotFound, WarehouseError


class TableNotFound(WarehouseError, NotFound):
    """The warehouse has no table of that name (read before any load created it)."""

    code = "TABLE_NOT_FOUND"


class SchemaMismatch(WarehouseError):
    """An append brings columns that differ from the existing table's columns."""

    code = "SCHEMA_MISMATCH"
