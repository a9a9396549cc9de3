"""Analytics fixtures: engines and settings do not outlive a test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from app.analytics.service import close_services
from app.analytics.settings import get_analytics_settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture(autouse=True)
async def _fresh_analytics() -> AsyncIterator[None]:
    get_analytics_settings.cache_clear()
    yield
    await close_services()
    get_analytics_settings.cache_clear()
