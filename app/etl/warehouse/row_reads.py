"""Bounded, filtered reads of warehouse rows: the SQL both backends run for previews,
scoped reads and the rejects API.

A filter names a column the table is known to have (checked here, against the columns
the backend looked up) and carries values that are bound as parameters; the row limit
is a parameter too. Column names are quoted by `quote_ident`, which is why the
injection lint is silenced on the lines that splice them in.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from app.errors import DataFlowError, InvalidInput, Terminal
from app.etl.contract_rows import REJECT_SCHEMA
from app.etl.names import quote_ident
from app.etl.warehouse import ledger

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from app.etl.warehouse.database import Database

Value = str | int | float | bool


@dataclass(frozen=True, slots=True)
class RowFilter:
    """Keep rows whose `column` is one of `values` (compared as text, as JSON prints them)."""

    column: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class RowsRead:
    frame: pl.DataFrame
    total: int | None
    """How many rows match the filters (all of them, not only the `limit` read), if asked."""


class MissingColumn(DataFlowError, Terminal):
    """A filter names a column the table does not have."""

    code = "COLUMN_NOT_FOUND"

    def __init__(self, table: str, column: str) -> None:
        super().__init__(f"table {table} has no column `{column}`")
        self.table = table
        self.column = column


class Params:
    """`$n` placeholders (both PostgreSQL and DuckDB take them) and their values."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def as_text(value: Value) -> str:
    """A scope value as the warehouse prints it as text (and JSON prints it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def where_sql(
    table: str, filters: Sequence[RowFilter], text_columns: Mapping[str, bool], params: Params
) -> str:
    """` WHERE …` for `filters` over a table whose columns are `text_columns` (name ->
    whether it holds text); a column it does not have is `MissingColumn`."""
    terms = []
    for item in filters:
        if item.column not in text_columns:
            raise MissingColumn(table, item.column)
        ident = quote_ident(item.column)
        # Non-text columns compare as text, so one scope value fits any column type.
        column = ident if text_columns[item.column] else f"CAST({ident} AS VARCHAR)"
        terms.append(_in(column, item.values, params))
    return f" WHERE {' AND '.join(terms)}" if terms else ""


def _in(column_sql: str, values: Sequence[Value], params: Params) -> str:
    return f"{column_sql} IN ({', '.join(params.add(as_text(v)) for v in values)})"


def select_sql(
    table_sql: str, columns_sql: str, where: str, limit: int | None, params: Params
) -> str:
    page = f" LIMIT {params.add(limit)}" if limit is not None else ""
    return f"SELECT {columns_sql} FROM {table_sql}{where}{page}"  # noqa: S608


def count_sql(table_sql: str, where: str) -> str:
    return f"SELECT count(*) FROM {table_sql}{where}"  # noqa: S608


# --- rejects -------------------------------------------------------------------------

RejectKey = tuple[int, str, int]
"""Where a reject sits in a run's order: (batch, source, row number)."""
REJECT_PAGE_SCHEMA = pl.Schema({"batch_no": pl.Int64(), **REJECT_SCHEMA})
_REJECT_ORDER = "batch_no, coalesce(source, ''), coalesce(row_number, -1)"


def encode_reject_cursor(key: RejectKey) -> str:
    raw = json.dumps(list(key)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_reject_cursor(cursor: str) -> RejectKey:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        batch, source, row = json.loads(base64.urlsafe_b64decode(padded))
        if not (isinstance(batch, int) and isinstance(source, str) and isinstance(row, int)):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("the cursor is not one this API issued", path=["after"]) from None
    return batch, source, row


def reject_key(row: Mapping[str, Any]) -> RejectKey:
    number = row["row_number"]
    return int(row["batch_no"]), row["source"] or "", -1 if number is None else int(number)


async def read_rejects_page(
    db: Database,
    run_id: str,
    *,
    where: Sequence[RowFilter],
    after: RejectKey | None,
    limit: int,
) -> pl.DataFrame:
    """Up to `limit` of a run's rejects after `after`, in source order, keeping only
    those whose raw row has every filtered field with an allowed value."""
    params = Params()
    terms = [f"run_id = {params.add(run_id)}"]
    terms += [
        _in(db.raw_field_text("raw", item.column, params.add), item.values, params)
        for item in where
    ]
    if after is not None:
        keys = ", ".join(params.add(value) for value in after)
        terms.append(f"({_REJECT_ORDER}) > ({keys})")
    sql = (
        f"SELECT batch_no, source, row_number, reason, {db.raw_as_text('raw')} "  # noqa: S608
        f"FROM {db.qualify(ledger.REJECTS)} WHERE {' AND '.join(terms)} "
        f"ORDER BY {_REJECT_ORDER} LIMIT {params.add(limit)}"
    )
    with db.errors(f"cannot read the rejects of run {run_id}"):
        async with db.transaction():
            await ledger.ensure_tables(db)
            rows = await db.fetch(sql, *params.values)
    return pl.DataFrame(rows, schema=REJECT_PAGE_SCHEMA, orient="row")
