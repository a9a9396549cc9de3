"""The metadata database: one async engine per event loop, and the session scope."""

from __future__ import annotations

import asyncio
import weakref
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from app.config import Settings

# The API's loop and the in-process worker's loop each need their own engine: asyncpg
# and aiosqlite connections belong to the loop that opened them.
_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncEngine]] = (
    weakref.WeakKeyDictionary()
)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while a worker writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    # Pre-ping costs a round trip per checkout (~15% of a runs page, measured), but after
    # a database restart it turns every stale pooled connection into a fresh one instead
    # of a failed request or a failed run write: worth it.
    return create_async_engine(
        url, pool_size=10, max_overflow=10, pool_recycle=1800, pool_pre_ping=True
    )


def get_engine(settings: Settings) -> AsyncEngine:
    """The engine for the metadata DB on the running loop, created on first use."""
    loop = asyncio.get_running_loop()
    per_loop = _engines.setdefault(loop, {})
    url = settings.metadata_url
    if url not in per_loop:
        per_loop[url] = create_engine(url)
    return per_loop[url]


async def dispose_engines() -> None:
    """Close the pools opened on the running loop (at shutdown)."""
    loop = asyncio.get_running_loop()
    for engine in _engines.pop(loop, {}).values():
        await engine.dispose()


def session_factory(settings: Settings) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(get_engine(settings), class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def session_scope(settings: Settings) -> AsyncIterator[AsyncSession]:
    """The one place that commits: services flush, the scope commits or rolls back."""
    async with session_factory(settings)() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def ping(settings: Settings) -> None:
    async with get_engine(settings).connect() as connection:
        await connection.execute(text("SELECT 1"))
