"""Names the warehouses share: checked table names, stored column names, staging tables."""

from __future__ import annotations

import hashlib
import unicodedata
from typing import TYPE_CHECKING

from app.errors import WarehouseError
from app.etl.names import MAX_IDENTIFIER_BYTES, TABLE_NAME_RULE, is_table_name

if TYPE_CHECKING:
    from collections.abc import Iterable

# Tables the warehouse keeps for itself; a destination may not take these names.
RESERVED_PREFIXES = ("_dataflow_", "_stage_")
_HASH_CHARS = 8


def check_table(table: str) -> str:
    """Refuse a table name outside the whitelist (the spec checks it too; this is the gate)."""
    if not is_table_name(table):
        raise WarehouseError(f"{table!r} is not a valid table name: {TABLE_NAME_RULE}")
    return table


def check_destination(table: str) -> str:
    check_table(table)
    if table.startswith(RESERVED_PREFIXES):
        raise WarehouseError(
            f"{table!r}: names starting with {' or '.join(RESERVED_PREFIXES)} are the "
            "warehouse's own; choose another table name"
        )
    return table


def short_identifier(name: str, limit: int = MAX_IDENTIFIER_BYTES) -> str:
    """`name`, or when over `limit` bytes its prefix plus a hash of the whole name.

    PostgreSQL silently truncates long identifiers, so two long names sharing a prefix
    would become one column; the hash keeps them apart, the same way every time.
    """
    encoded = name.encode()
    if len(encoded) <= limit:
        return name
    digest = hashlib.sha256(encoded).hexdigest()[:_HASH_CHARS]
    prefix = encoded[: limit - _HASH_CHARS - 1].decode(errors="ignore")
    return f"{prefix}_{digest}"


def stored_names(columns: Iterable[str]) -> dict[str, str]:
    """Each column's name in the warehouse; refuses names no shortening can make safe."""
    stored: dict[str, str] = {}
    taken: dict[str, str] = {}
    for name in columns:
        if not name:
            raise WarehouseError("a column name is empty")
        if any(unicodedata.category(char).startswith("C") for char in name):
            raise WarehouseError(f"column name {name!r} contains a control character")
        short = short_identifier(name)
        if short in taken:
            raise WarehouseError(
                f"columns {taken[short]!r} and {name!r} would both be stored as {short!r}; "
                "rename one of them"
            )
        stored[name], taken[short] = short, name
    return stored


def staging_table(table: str, run_id: str) -> str:
    """A per-run staging name, valid and at most 63 characters whatever the inputs."""
    digest = hashlib.sha256(f"{table}\0{run_id}".encode()).hexdigest()[:12]
    return f"_stage_{table[:40]}_{digest}"


def index_name(table: str, columns: Iterable[str]) -> str:
    """A deterministic, short name for the unique index a merge needs on its keys."""
    digest = hashlib.sha256("\0".join([table, *columns]).encode()).hexdigest()[:12]
    return f"_dataflow_key_{table[:36]}_{digest}"
