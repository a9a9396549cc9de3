"""One entry per kind of warehouse: how to open it, and how analytics reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.etl.warehouse.analytics_access import AnalyticsAccess
    from app.etl.warehouse.protocol import Warehouse


@dataclass(frozen=True, slots=True)
class WarehouseKind:
    """A warehouse backend as the rest of the application sees it.

    Its SQL differences live in its `Database` (see database.py); this says how a target
    URL becomes the warehouse, and how analytics reads the warehouse's tables.
    """

    name: str
    open: Callable[[str], Warehouse]
    """The warehouse for a target URL; nothing connects until the first operation."""
    analytics_access: Callable[[str], AnalyticsAccess]
