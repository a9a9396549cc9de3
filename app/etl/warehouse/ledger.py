"""The warehouse's own tables: loads, their batches, watermarks and rejected rows.

- `_dataflow_loads`: one row per run being loaded or applied (state, attempt, totals).
- `_dataflow_batches`: one row per committed batch, keyed by (run, batch); its counts
  and cursor maximum let a later attempt resume after it and still report the whole run.
- `_dataflow_watermarks`: per (pipeline, table), the largest cursor value loaded.
- `_dataflow_rejects`: quarantined rows with their run, location, reason and raw values.

Statements use `$n` parameters, which PostgreSQL and DuckDB both accept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from app.etl.incremental import decode_value, encode_value
from app.etl.warehouse.protocol import BatchStats, LoadTotals, StoredWatermark

if TYPE_CHECKING:
    from app.etl.warehouse.database import Database

LOADS = "_dataflow_loads"
BATCHES = "_dataflow_batches"
WATERMARKS = "_dataflow_watermarks"
REJECTS = "_dataflow_rejects"
REJECT_COLUMNS = ["run_id", "table_name", "batch_no", "source", "row_number", "reason", "raw"]

_COUNTS = "rows_read bigint NOT NULL, rows_written bigint NOT NULL, "
_COUNTS += "rows_rejected bigint NOT NULL, rows_filtered bigint NOT NULL"


def ddl_statements(db: Database) -> list[str]:
    """The ledger's tables (and the index that finds a run's rejects, where it pays)."""
    statements = [
        f"CREATE TABLE IF NOT EXISTS {db.qualify(LOADS)} ("
        "run_id text PRIMARY KEY, pipeline text NOT NULL, table_name text NOT NULL, "
        "mode text NOT NULL, staging text NOT NULL, attempt integer NOT NULL, "
        "state text NOT NULL, rows_read bigint, rows_written bigint, rows_rejected bigint, "
        "rows_filtered bigint, batches integer, watermark text, "
        "started_at timestamptz NOT NULL DEFAULT now(), applied_at timestamptz)",
        f"CREATE TABLE IF NOT EXISTS {db.qualify(BATCHES)} ("
        f"run_id text NOT NULL, batch_no integer NOT NULL, {_COUNTS}, "
        "cursor_max text, cursor_type text, fingerprint text, "
        "committed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, batch_no))",
        f"CREATE TABLE IF NOT EXISTS {db.qualify(WATERMARKS)} ("
        "pipeline text NOT NULL, table_name text NOT NULL, cursor_column text NOT NULL, "
        "value text NOT NULL, value_type text NOT NULL, run_id text NOT NULL, "
        "updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (pipeline, table_name))",
        f"CREATE TABLE IF NOT EXISTS {db.qualify(REJECTS)} ("
        "run_id text NOT NULL, table_name text NOT NULL, batch_no integer NOT NULL, "
        f"source text, row_number bigint, reason text NOT NULL, raw {db.raw_rows_type}, "
        "rejected_at timestamptz NOT NULL DEFAULT now())",
    ]
    index = db.lookup_index_sql(db.qualify(REJECTS), "_dataflow_rejects_run", ["run_id"])
    return statements if index is None else [*statements, index]


async def ensure_tables(db: Database) -> None:
    """Create the tables if missing; call inside a transaction."""
    await db.lock_for_ddl("dataflow.ledger")
    for statement in ddl_statements(db):
        await db.execute(statement)


async def find_load(db: Database, run_id: str) -> tuple[Any, ...] | None:
    """(table, mode, staging, attempt, state, totals...) of a run's load, or None."""
    rows = await db.fetch(
        "SELECT table_name, mode, staging, attempt, state, rows_read, rows_written, "  # noqa: S608
        f"rows_rejected, rows_filtered, batches, watermark FROM {db.qualify(LOADS)} "
        "WHERE run_id = $1",
        run_id,
    )
    return tuple(rows[0]) if rows else None


def totals_of(row: tuple[Any, ...]) -> LoadTotals:
    rows_read, rows_written, rows_rejected, rows_filtered, batches = (v or 0 for v in row[5:10])
    return LoadTotals(
        rows_read=rows_read,
        rows_written=rows_written,
        rows_rejected=rows_rejected,
        rows_filtered=rows_filtered,
        batches=batches,
        watermark=row[10],
    )


async def insert_load(
    db: Database, run_id: str, pipeline: str, table: str, mode: str, staging: str, attempt: int
) -> None:
    await db.execute(
        f"INSERT INTO {db.qualify(LOADS)} "  # noqa: S608
        "(run_id, pipeline, table_name, mode, staging, attempt, state) "
        "VALUES ($1, $2, $3, $4, $5, $6, 'loading')",
        run_id,
        pipeline,
        table,
        mode,
        staging,
        attempt,
    )


async def take_over(db: Database, run_id: str, attempt: int) -> bool:
    """Make `attempt` the load's owner; False when a later attempt already owns it."""
    rows = await db.fetch(
        f"UPDATE {db.qualify(LOADS)} SET attempt = $2 "  # noqa: S608
        "WHERE run_id = $1 AND attempt <= $2 RETURNING run_id",
        run_id,
        attempt,
    )
    return bool(rows)


async def owns(db: Database, run_id: str, attempt: int) -> bool:
    rows = await db.fetch(
        f"SELECT 1 FROM {db.qualify(LOADS)} WHERE run_id = $1 AND attempt = $2 "  # noqa: S608
        "AND state = 'loading'",
        run_id,
        attempt,
    )
    return bool(rows)


async def committed_batches(db: Database, run_id: str) -> dict[int, BatchStats]:
    rows = await db.fetch(
        "SELECT batch_no, rows_read, rows_written, rows_rejected, rows_filtered, "  # noqa: S608
        f"cursor_max, cursor_type, fingerprint FROM {db.qualify(BATCHES)} "
        "WHERE run_id = $1 ORDER BY batch_no",
        run_id,
    )
    return {
        row[0]: BatchStats(
            rows_read=row[1],
            rows_written=row[2],
            rows_rejected=row[3],
            rows_filtered=row[4],
            cursor_max=None if row[5] is None else decode_value(row[5], row[6]),
            fingerprint=row[7],
        )
        for row in rows
    }


async def claim_batch(db: Database, run_id: str, number: int, stats: BatchStats) -> bool:
    """Record the batch in the ledger; False when it is there already (a redelivery)."""
    cursor_text, type_text = (
        encode_value(stats.cursor_max, pl.Series([stats.cursor_max]).dtype)
        if stats.cursor_max is not None
        else (None, None)
    )
    rows = await db.fetch(
        f"INSERT INTO {db.qualify(BATCHES)} (run_id, batch_no, rows_read, rows_written, "  # noqa: S608
        "rows_rejected, rows_filtered, cursor_max, cursor_type, fingerprint) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING batch_no",
        run_id,
        number,
        stats.rows_read,
        stats.rows_written,
        stats.rows_rejected,
        stats.rows_filtered,
        cursor_text,
        type_text,
        stats.fingerprint,
    )
    return bool(rows)


async def read_watermark(db: Database, pipeline: str, table: str) -> StoredWatermark | None:
    rows = await db.fetch(
        f"SELECT cursor_column, value, value_type FROM {db.qualify(WATERMARKS)} "  # noqa: S608
        "WHERE pipeline = $1 AND table_name = $2",
        pipeline,
        table,
    )
    if not rows:
        return None
    column, text, type_text = rows[0]
    return StoredWatermark(column, decode_value(text, type_text))


async def write_watermark(
    db: Database,
    *,
    pipeline: str,
    table: str,
    column: str,
    value: Any,
    dtype: pl.DataType,
    run_id: str,
) -> str:
    text, type_text = encode_value(value, dtype)
    await db.execute(
        f"INSERT INTO {db.qualify(WATERMARKS)} "  # noqa: S608
        "(pipeline, table_name, cursor_column, value, value_type, run_id, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT (pipeline, table_name) DO UPDATE "
        "SET cursor_column = excluded.cursor_column, value = excluded.value, "
        "value_type = excluded.value_type, run_id = excluded.run_id, updated_at = now()",
        pipeline,
        table,
        column,
        text,
        type_text,
        run_id,
    )
    return text


async def mark_applied(
    db: Database, run_id: str, totals: LoadTotals, watermark: str | None
) -> None:
    await db.execute(
        f"UPDATE {db.qualify(LOADS)} SET state = 'applied', applied_at = now(), "  # noqa: S608
        "rows_read = $2, rows_written = $3, rows_rejected = $4, rows_filtered = $5, "
        "batches = $6, watermark = $7 WHERE run_id = $1",
        run_id,
        totals.rows_read,
        totals.rows_written,
        totals.rows_rejected,
        totals.rows_filtered,
        totals.batches,
        watermark,
    )


async def forget_run(
    db: Database, run_id: str, *, keep_load: bool = False, keep_rejects: bool = False
) -> None:
    """Delete a run's batches and rejects (its load row unless `keep_load`, its rejects
    unless `keep_rejects`; retention removes those later)."""
    await db.execute(f"DELETE FROM {db.qualify(BATCHES)} WHERE run_id = $1", run_id)  # noqa: S608
    if not keep_rejects:
        await db.execute(f"DELETE FROM {db.qualify(REJECTS)} WHERE run_id = $1", run_id)  # noqa: S608
    if not keep_load:
        await db.execute(f"DELETE FROM {db.qualify(LOADS)} WHERE run_id = $1", run_id)  # noqa: S608


async def forget_batches(db: Database, run_id: str) -> None:
    """After an apply the batch rows have served their purpose; the load row stays."""
    await db.execute(f"DELETE FROM {db.qualify(BATCHES)} WHERE run_id = $1", run_id)  # noqa: S608
