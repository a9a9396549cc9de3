"""The two ways a warehouse merges a run's staging into its table (mode merge): the
last staged row of each key wins, inserted or updating the row with that key.

A warehouse picks one in its `Database.merge_statements`: PostgreSQL upserts with
`INSERT … ON CONFLICT` (which needs a unique index on the keys); DuckDB has no such
index to spare on a table loaded in bulk, and runs `MERGE INTO`. Identifiers have passed
the table whitelist or the column-name check and are quoted; the injection lint is
silenced on those lines only.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.etl.names import quote_ident
from app.etl.warehouse.naming import index_name
from app.etl.warehouse.sql import column_list


@dataclass(frozen=True, slots=True)
class Merge:
    """One merge, its identifiers already quoted where they end in `_sql`."""

    table: str
    """The table's own name (its key index is named after it)."""
    target_sql: str
    staging_sql: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]
    """Every column the table receives, keys included."""
    select_sql: str
    """The staged columns as the table stores them (casts where the table is wider)."""
    latest_first_sql: str
    """An ORDER BY that puts the winning row of each key first."""

    @property
    def others(self) -> list[str]:
        return [name for name in self.columns if name not in self.keys]


def upsert_on_conflict(merge: Merge) -> list[str]:
    """A unique index on the keys, then one INSERT … ON CONFLICT of each key's latest row."""
    keys = column_list(merge.keys)
    update = (
        "DO UPDATE SET "
        + ", ".join(f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}" for c in merge.others)
        if merge.others
        else "DO NOTHING"
    )
    return [
        f"CREATE UNIQUE INDEX IF NOT EXISTS {quote_ident(index_name(merge.table, merge.keys))} "
        f"ON {merge.target_sql} ({keys})",
        f"INSERT INTO {merge.target_sql} ({column_list(merge.columns)}) "  # noqa: S608
        f"SELECT DISTINCT ON ({keys}) {merge.select_sql} FROM {merge.staging_sql} "
        f"ORDER BY {keys}, {merge.latest_first_sql} "
        f"ON CONFLICT ({keys}) {update}",
    ]


def merge_into(merge: Merge) -> list[str]:
    """One MERGE INTO from each key's latest row (no index needed)."""
    latest = (
        f"SELECT {merge.select_sql} FROM {merge.staging_sql} QUALIFY row_number() OVER "  # noqa: S608
        f"(PARTITION BY {column_list(merge.keys)} ORDER BY {merge.latest_first_sql}) = 1"
    )
    match = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in merge.keys)
    update = (
        "WHEN MATCHED THEN UPDATE SET "
        + ", ".join(f"{quote_ident(c)} = s.{quote_ident(c)}" for c in merge.others)
        + " "
        if merge.others
        else ""
    )
    values = ", ".join(f"s.{quote_ident(c)}" for c in merge.columns)
    return [
        f"MERGE INTO {merge.target_sql} AS t USING ({latest}) AS s ON ({match}) {update}"  # noqa: S608
        f"WHEN NOT MATCHED THEN INSERT ({column_list(merge.columns)}) VALUES ({values})"
    ]
