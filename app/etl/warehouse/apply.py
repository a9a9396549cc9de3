"""Applying a run's staging table to its table: append, replace, merge or
replace_partition, in SQL.

Every statement here runs inside the load's final transaction. Identifiers have passed
the table whitelist or the column-name check and are quoted; the injection lint is
silenced on those lines only. Where backends differ, the `Database` says how.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from app.errors import WarehouseError
from app.etl.names import quote_ident
from app.etl.warehouse.evolve import SchemaPlan, plan_schema
from app.etl.warehouse.merge import Merge
from app.etl.warehouse.sql import column_list

if TYPE_CHECKING:
    from collections.abc import Sequence

    from app.etl.warehouse.database import Database
    from app.etl.warehouse.protocol import LoadOptions, Mode, PartitionWindow

SEQUENCE_COLUMN = "_dataflow_seq"
"""Merge staging only: batch number and position, so the last of equal keys wins."""


def alter_statements(db: Database, table_sql: str, plan: SchemaPlan) -> list[str]:
    """ADD COLUMN and widening ALTER TYPE statements for `plan` (idempotent)."""
    statements = [
        f"ALTER TABLE {table_sql} ADD COLUMN IF NOT EXISTS {quote_ident(name)} {db.sql_type(dtype)}"
        for name, dtype in plan.add.items()
    ]
    statements += [
        db.widen_column_sql(table_sql, name, db.sql_type(dtype))
        for name, dtype in plan.widen.items()
    ]
    return statements


async def apply_staging(
    db: Database,
    *,
    table: str,
    staging: str,
    mode: Mode,
    options: LoadOptions,
) -> None:
    """Make the staged rows the table's (mode decides how); the caller's transaction."""
    target, source = db.qualify(table), db.qualify(staging)
    existing = await db.table_schema(table)
    staged = await db.table_schema(staging)
    if mode == "replace_partition":
        await _clear_partition(db, table, existing, options)
    if staged is None:
        # Nothing was staged: a replace with nothing empties the table, keeping it.
        if mode == "replace" and existing is not None:
            await db.execute(f"DELETE FROM {target}")  # noqa: S608
        return
    if mode == "replace" or (mode == "append" and existing is None):
        await db.execute(f"DROP TABLE IF EXISTS {target}")
        await db.execute(f"ALTER TABLE {source} RENAME TO {quote_ident(table)}")
        return
    await _copy_staged_rows(db, table, staging, mode, options, existing, staged)
    await db.execute(f"DROP TABLE {source}")


async def _clear_partition(
    db: Database, table: str, existing: pl.Schema | None, options: LoadOptions
) -> None:
    """The run owns its window: what was there goes, in the same transaction as the
    insert that follows, so readers see the old partition or the new one."""
    if options.partition is None:
        raise WarehouseError(f"a replace_partition load into {table} needs its partition")
    if existing is not None:
        await _delete_window(db, db.qualify(table), options.partition)


async def _copy_staged_rows(
    db: Database,
    table: str,
    staging: str,
    mode: Mode,
    options: LoadOptions,
    existing: pl.Schema | None,
    staged: pl.Schema,
) -> None:
    """Fit the table to the staged columns, then insert (or merge) the staged rows."""
    target, source = db.qualify(table), db.qualify(staging)
    data = pl_schema_without(staged, SEQUENCE_COLUMN)
    plan = plan_schema(
        table, existing, data, new_columns=options.new_columns, declared=options.declared
    )
    if existing is None:
        await db.execute(
            f"CREATE TABLE {target} AS SELECT {column_list(list(data))} FROM {source} LIMIT 0"  # noqa: S608
        )
    else:
        for statement in alter_statements(db, target, plan):
            await db.execute(statement)
    columns = [name for name in data if name not in plan.drop]
    if mode == "merge":
        await _merge(db, table, source, columns, plan, options)
        return
    await db.execute(
        f"INSERT INTO {target} ({column_list(columns)}) "  # noqa: S608
        f"SELECT {_select_list(columns, plan, db)} FROM {source}"
    )


async def _delete_window(db: Database, target: str, window: PartitionWindow) -> None:
    """Delete the rows whose partition column is in [start, end) (compared in UTC)."""
    column = f"CAST({quote_ident(window.column)} AS TIMESTAMP)"
    await db.execute(
        f"DELETE FROM {target} WHERE {column} >= $1 AND {column} < $2",  # noqa: S608
        window.start,
        window.end,
    )


def pl_schema_without(schema: pl.Schema, column: str) -> pl.Schema:
    return pl.Schema({name: dtype for name, dtype in schema.items() if name != column})


def _select_list(columns: Sequence[str], plan: SchemaPlan, db: Database) -> str:
    return ", ".join(
        f"CAST({quote_ident(name)} AS {db.sql_type(plan.cast[name])}) AS {quote_ident(name)}"
        if name in plan.cast
        else quote_ident(name)
        for name in columns
    )


def _latest_first(options: LoadOptions) -> str:
    order = f"{quote_ident(options.order_by)} DESC NULLS LAST, " if options.order_by else ""
    return f"{order}{quote_ident(SEQUENCE_COLUMN)} DESC"


async def _merge(
    db: Database,
    table: str,
    source: str,
    columns: list[str],
    plan: SchemaPlan,
    options: LoadOptions,
) -> None:
    """Each key's latest staged row inserted or updating its row, the backend's way."""
    merge = Merge(
        table=table,
        target_sql=db.qualify(table),
        staging_sql=source,
        keys=tuple(options.keys),
        columns=tuple(columns),
        select_sql=_select_list(columns, plan, db),
        latest_first_sql=_latest_first(options),
    )
    for statement in db.merge_statements(merge):
        await db.execute(statement)
