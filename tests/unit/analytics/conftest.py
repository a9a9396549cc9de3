"""Analytics fixtures: engines do not outlive a test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from app.analytics.service import close_services

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture(autouse=True)
async def _fresh_analytics() -> AsyncIterator[None]:
    yield
    await close_services()
