"""Warehouse tables as clients see them: a bounded preview of a loaded table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.etl.warehouse import open_warehouse
from app.services.previews import PreviewResult, check_limit, result_of

if TYPE_CHECKING:
    from app.config import Settings


async def preview(*, settings: Settings, table: str, limit: int) -> tuple[PreviewResult, int]:
    """The first `limit` rows, and how many rows the table holds."""
    check_limit(limit)
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        frame = await warehouse.read_table(table)
    finally:
        await warehouse.close()
    return result_of(frame, limit, frame.height), frame.height
