"""The one read policy for warehouse rows: every API that returns rows (or counts rows)
of a warehouse table goes through here, so a caller's analytics scope binds
`tablePreview`, `datasets { rowCount }` and `rejects` exactly as it binds `analytics`.

- The scope becomes filters the warehouse binds as parameters, on columns it checks the
  table has; nothing a caller sends becomes SQL text.
- A scoped caller cannot read a table that has no column for a scoped dimension
  (`FORBIDDEN`, naming the dimension), as `analytics` refuses such a dataset.
- The warehouse's own tables (`_dataflow_*`, `_stage_*`) are never readable as tables:
  rejects have their own API, which keeps only the rejects whose raw row has every
  scoped field with an allowed value (a raw row without the field is hidden).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.analytics.errors import OutOfScope
from app.errors import DataFlowError, Forbidden, InvalidInput
from app.etl.names import TABLE_NAME_RULE, is_table_name
from app.etl.warehouse import open_warehouse
from app.etl.warehouse.naming import RESERVED_PREFIXES
from app.etl.warehouse.row_reads import (
    MissingColumn,
    RowFilter,
    decode_reject_cursor,
    encode_reject_cursor,
    reject_key,
)
from app.services.pagination import Page, page_size

if TYPE_CHECKING:
    import polars as pl

    from app.analytics.scope import Scope
    from app.config import Settings


class InternalTable(Forbidden):
    """The warehouse's own bookkeeping is not a table clients read."""


@dataclass(frozen=True, slots=True)
class Reject:
    batch: int
    source: str | None
    """The file (or URL, or page) the row came from."""
    row_number: int | None
    """The row's line or position in that source."""
    reason: str
    raw: str | None
    """The row as read, a JSON object of its fields."""


def filters_of(scope: Scope) -> tuple[RowFilter, ...]:
    return tuple(RowFilter(name, values) for name, values in scope)


def check_readable(table: str) -> str:
    """A table name a client may read: well formed, and not one of the warehouse's own."""
    if not is_table_name(table):
        raise InvalidInput(
            f"{table!r} is not a valid table name: {TABLE_NAME_RULE}", path=["table"]
        )
    if table.startswith(RESERVED_PREFIXES):
        raise InternalTable(
            f"{table} is the warehouse's own bookkeeping and cannot be read as a table; "
            "a run's rejected rows are read with `rejects(runId)`",
            path=["table"],
        )
    return table


async def read_table(
    *, settings: Settings, table: str, scope: Scope, limit: int | None, count: bool = False
) -> tuple[pl.DataFrame, int | None]:
    """Up to `limit` (None: all) rows of `table` within `scope` (the warehouse reads no
    more), and with `count` how many rows within the scope it holds."""
    check_readable(table)
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        read = await warehouse.read_rows(table, where=filters_of(scope), limit=limit, count=count)
    except MissingColumn as error:
        raise _out_of_scope(error) from None
    finally:
        await warehouse.close()
    return read.frame, read.total


@dataclass(frozen=True)
class CallerTables:
    """The warehouse as one caller may read it, for a pipeline preview's joins: the
    same policy as `tablePreview` (scope applied, internal tables refused)."""

    settings: Settings
    scope: Scope

    async def read_table(self, table: str) -> pl.DataFrame:
        try:
            frame, _ = await read_table(
                settings=self.settings, table=table, scope=self.scope, limit=None
            )
        except DataFlowError as error:
            # Said of the join that named the table, not of an argument called `table`.
            error.path = []
            raise
        return frame


async def count_rows(*, settings: Settings, tables: list[str], scope: Scope) -> dict[str, int]:
    """Rows within `scope` per table; a table the scope cannot apply to is left out."""
    warehouse = open_warehouse(settings.warehouse_target)
    counts = {}
    try:
        for table in tables:
            try:
                read = await warehouse.read_rows(
                    table, where=filters_of(scope), limit=0, count=True
                )
            except MissingColumn:
                continue
            counts[table] = read.total or 0
    finally:
        await warehouse.close()
    return counts


async def rejects_page(
    *, settings: Settings, run_id: str, scope: Scope, first: int | None, after: str | None
) -> Page[Reject]:
    """A page of a run's rejected rows in source order, within the caller's scope."""
    size = page_size(first)
    start = decode_reject_cursor(after) if after else None
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        frame = await warehouse.read_rejects_page(
            run_id, where=filters_of(scope), after=start, limit=size + 1
        )
    finally:
        await warehouse.close()
    rows = frame.rows(named=True)
    shown = rows[:size]
    return Page(
        items=[_reject(row) for row in shown],
        cursors=[encode_reject_cursor(reject_key(row)) for row in shown],
        has_next_page=len(rows) > size,
    )


def _reject(row: dict[str, Any]) -> Reject:
    return Reject(
        batch=int(row["batch_no"]),
        source=row["source"],
        row_number=row["row_number"],
        reason=row["reason"],
        raw=row["raw"],
    )


def _out_of_scope(error: MissingColumn) -> OutOfScope:
    return OutOfScope(
        f"your analytics scope restricts `{error.column}`, which table {error.table} "
        "does not have as a column, so you cannot read it",
        path=["table"],
    )
