"""Names the warehouses share: checked table and column names, staging tables."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from app.errors import WarehouseError
from app.etl.names import TABLE_NAME_RULE, column_name_problem, is_table_name

if TYPE_CHECKING:
    from collections.abc import Iterable


def check_table(table: str) -> str:
    """Refuse a table name outside the whitelist (the spec checks it too; this is the gate)."""
    if not is_table_name(table):
        raise WarehouseError(f"{table!r} is not a valid table name: {TABLE_NAME_RULE}")
    return table


def check_columns(columns: Iterable[str]) -> list[str]:
    names = list(columns)
    for name in names:
        problem = column_name_problem(name)
        if problem:
            raise WarehouseError(problem)
    return names


def staging_table(table: str, run_id: str) -> str:
    """A per-run staging name, valid and at most 63 characters whatever the inputs."""
    digest = hashlib.sha256(f"{table}\0{run_id}".encode()).hexdigest()[:12]
    return f"_stage_{table[:40]}_{digest}"


def describe_mismatch(table: str, existing: list[str], incoming: list[str]) -> str | None:
    """Why a batch with `incoming` columns cannot be appended to `existing`, or None."""
    extra = [name for name in incoming if name not in existing]
    missing = [name for name in existing if name not in incoming]
    if not extra and not missing:
        return None
    parts = []
    if extra:
        parts.append(f"columns not in the table: {', '.join(extra)}")
    if missing:
        parts.append(f"table columns missing from the data: {', '.join(missing)}")
    return (
        f"cannot append to {table}: {'; '.join(parts)} "
        "(load with mode replace to change the table's columns)"
    )
