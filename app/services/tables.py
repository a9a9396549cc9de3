"""Warehouse tables as clients see them: a bounded preview of a loaded table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.services import row_access
from app.services.previews import PreviewResult, check_limit, result_of

if TYPE_CHECKING:
    from app.analytics.scope import Scope
    from app.config import Settings


async def preview(
    *, settings: Settings, table: str, limit: int, scope: Scope = (), count: bool = True
) -> tuple[PreviewResult, int | None]:
    """The first `limit` rows within the caller's scope (only those leave the warehouse),
    and with `count` how many rows within the scope the table holds."""
    check_limit(limit)
    frame, total = await row_access.read_table(
        settings=settings, table=table, scope=scope, limit=limit, count=count
    )
    return result_of(frame, limit, frame.height), total
