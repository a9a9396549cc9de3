"""Warehouses the engine loads into, chosen by the target URL alone."""

from __future__ import annotations

from urllib.parse import urlsplit

from app.errors import ConfigError
from app.etl.warehouse.protocol import (
    BatchStats,
    LoadOptions,
    LoadTotals,
    Mode,
    NewColumns,
    PartitionWindow,
    StoredWatermark,
    TableLoad,
    Warehouse,
)

__all__ = [
    "BatchStats",
    "LoadOptions",
    "LoadTotals",
    "Mode",
    "NewColumns",
    "PartitionWindow",
    "StoredWatermark",
    "TableLoad",
    "Warehouse",
    "open_warehouse",
]

_POSTGRES_SCHEMES = {"postgresql", "postgresql+asyncpg", "postgres"}


def open_warehouse(target: str) -> Warehouse:
    """A warehouse for `postgresql[+asyncpg]://...` or `duckdb:///abs/path.duckdb`.

    Nothing connects here; the first operation does.
    """
    scheme = urlsplit(target).scheme
    # Imported here: a worker loading into PostgreSQL never loads DuckDB (~30 MB).
    if scheme in _POSTGRES_SCHEMES:
        from app.etl.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse(target)
    if scheme == "duckdb":
        from app.etl.warehouse.duckdb import DuckDBWarehouse, duckdb_path

        return DuckDBWarehouse(duckdb_path(target))
    raise ConfigError(
        f"warehouse target scheme {scheme or '(none)'!r} is not one of duckdb, postgresql"
    )
