"""Warehouse kinds by URL scheme: what each opens, and how analytics reads it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from app.errors import ConfigError
from app.etl.warehouse import InPlace, ScannedReplica, analytics_access, warehouse_kind

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+asyncpg"])
def test_postgres_is_read_through_a_replica_scanned_in_its_schema(scheme: str) -> None:
    access = analytics_access(f"{scheme}://user@db.example/dw")
    assert isinstance(access, ScannedReplica)
    assert access.extension == "postgres_scanner"
    params: list[object] = []

    def bind(value: object) -> str:
        params.append(value)
        return f"${len(params)}"

    assert access.scan_sql("orders", bind) == "postgres_scan($1, $2, $3)"
    # The scanner speaks libpq URLs, whichever spelling the settings used.
    assert params == ["postgresql://user@db.example/dw", "warehouse", "orders"]


def test_duckdb_is_read_in_place_on_the_connection_the_warehouse_holds(tmp_path: Path) -> None:
    access = analytics_access(f"duckdb:///{tmp_path / 'w.duckdb'}")
    assert isinstance(access, InPlace)
    assert access.relation("orders") == ("orders",)
    held = access.acquire()
    try:
        with access.cursor() as cursor:
            cursor.execute("CREATE TABLE t AS SELECT 1 AS x")
        # The cursor's connection is the one already held: it sees the table.
        assert held.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        access.release()


def test_an_unknown_scheme_names_the_known_kinds() -> None:
    with pytest.raises(ConfigError, match="'mysql' is not one of duckdb, postgresql"):
        warehouse_kind("mysql://localhost/db")
