"""Error reporting: Sentry, when SENTRY_DSN is set, for the API and the workers alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sentry_sdk

if TYPE_CHECKING:
    from app.config import Settings


def init_sentry(settings: Settings) -> bool:
    """Start Sentry if configured; True when it was started."""
    if not settings.sentry_dsn:
        return False
    # The Starlette, Strawberry, Dramatiq, SQLAlchemy and Redis integrations switch on by
    # themselves when those packages are importable, tagging each event with its request,
    # operation or message.
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.env.value,
        traces_sample_rate=0.0,
    )
    return True
