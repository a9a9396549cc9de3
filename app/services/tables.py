"""Warehouse tables as clients see them: a bounded preview of a loaded table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from app.errors import InvalidInput
from app.etl.warehouse import open_warehouse

if TYPE_CHECKING:
    from app.config import Settings

MAX_PREVIEW_ROWS = 1000
# Values JSON cannot carry as themselves travel as ISO/decimal text.
_AS_TEXT = (pl.Date, pl.Datetime, pl.Time, pl.Duration, pl.Decimal)


@dataclass(frozen=True)
class Preview:
    columns: list[tuple[str, str]]
    rows: list[list[Any]]
    row_count: int


async def preview(*, settings: Settings, table: str, limit: int) -> Preview:
    if not 1 <= limit <= MAX_PREVIEW_ROWS:
        raise InvalidInput(f"limit must be between 1 and {MAX_PREVIEW_ROWS}", path=["limit"])
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        frame = await warehouse.read_table(table)
    finally:
        await warehouse.close()
    head = frame.head(limit).with_columns(pl.col(*_AS_TEXT).cast(pl.String))
    columns = [(name, str(dtype)) for name, dtype in frame.schema.items()]
    return Preview(columns=columns, rows=[list(row) for row in head.rows()], row_count=frame.height)
