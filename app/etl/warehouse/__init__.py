"""Warehouses the engine loads into, chosen by the target URL alone."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from app.errors import ConfigError
from app.etl.warehouse.analytics_access import AnalyticsAccess, InPlace, ScannedReplica
from app.etl.warehouse.kinds import WarehouseKind
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

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "AnalyticsAccess",
    "BatchStats",
    "InPlace",
    "LoadOptions",
    "LoadTotals",
    "Mode",
    "NewColumns",
    "PartitionWindow",
    "ScannedReplica",
    "StoredWatermark",
    "TableLoad",
    "Warehouse",
    "WarehouseKind",
    "analytics_access",
    "open_warehouse",
    "warehouse_kind",
]


def _postgres() -> WarehouseKind:
    from app.etl.warehouse.postgres import POSTGRES

    return POSTGRES


def _duckdb() -> WarehouseKind:
    from app.etl.warehouse.duckdb import DUCKDB

    return DUCKDB


# URL scheme -> its kind. Loaded on first use: a worker loading into PostgreSQL never
# imports DuckDB (~30 MB). A new warehouse is a module with its `WarehouseKind` and a
# line here.
_KINDS: dict[str, Callable[[], WarehouseKind]] = {
    "postgresql": _postgres,
    "postgresql+asyncpg": _postgres,
    "postgres": _postgres,
    "duckdb": _duckdb,
}


def warehouse_kind(target: str) -> WarehouseKind:
    """The kind of warehouse `target` names, by its URL scheme."""
    scheme = urlsplit(target).scheme
    load = _KINDS.get(scheme)
    if load is None:
        known = ", ".join(sorted({load().name for load in _KINDS.values()}))
        raise ConfigError(f"warehouse target scheme {scheme or '(none)'!r} is not one of {known}")
    return load()


def open_warehouse(target: str) -> Warehouse:
    """A warehouse for `postgresql[+asyncpg]://...` or `duckdb:///abs/path.duckdb`.

    Nothing connects here; the first operation does.
    """
    return warehouse_kind(target).open(target)


def analytics_access(target: str) -> AnalyticsAccess:
    """How analytics reads the tables of the warehouse `target` names."""
    return warehouse_kind(target).analytics_access(target)
