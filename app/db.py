"""The metadata database: one async engine per event loop, and the session scope."""

from __future__ import annotations

import asyncio
import time
import weakref
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from sqlalchemy.pool import ConnectionPoolEntry

    from app.config import Settings

# The API's loop and the in-process worker's loop each need their own engine: asyncpg
# and aiosqlite connections belong to the loop that opened them.
_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncEngine]] = (
    weakref.WeakKeyDictionary()
)


# The same pools, handing out connections in autocommit mode (see `read_scope`).
_autocommit_engines: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = (
    weakref.WeakKeyDictionary()
)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while a worker writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# A connection idle for longer than this is pinged before it is handed out, so the first
# request after a database restart gets a fresh connection instead of an error.
IDLE_PING_SECONDS = 2.0


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Pre-ping, but only connections that may be stale. SQLAlchemy's `pool_pre_ping`
    pings every checkout, and for asyncpg a ping is BEGIN, a query and ROLLBACK: three
    round trips, a quarter of a runs page. A connection the server closed (a restart,
    `pg_terminate_backend`) is known closed by asyncpg as soon as the loop has seen the
    socket close, which costs nothing to ask; one that sat idle gets a real ping, in case
    the close never reached us. Either way the pool checks out a fresh one instead."""
    dialect = engine.sync_engine.dialect

    def on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    def on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        is_closed = getattr(record.driver_connection, "is_closed", None)
        if is_closed is not None and is_closed():
            raise DisconnectionError("the server closed this pooled connection")
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool throws this connection away and checks out another.
            raise DisconnectionError(f"stale pooled connection: {error}") from error

    event.listen(engine.sync_engine.pool, "checkin", on_checkin)
    event.listen(engine.sync_engine.pool, "checkout", on_checkout)


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


@asynccontextmanager
async def read_scope(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session for reads only: each statement runs on its own (autocommit), so a read
    costs no BEGIN and COMMIT round trips; nothing is committed."""
    engine = get_engine(settings)
    autocommit = _autocommit_engines.get(engine)
    if autocommit is None:
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        _autocommit_engines[engine] = autocommit
    async with AsyncSession(autocommit, expire_on_commit=False) as session:
        yield session


def forget_on_commit(touches: Callable[[object], bool], forget: Callable[[], None]) -> None:
    """Call `forget` after every commit, in this process, whose flushes added, changed
    or deleted an object `touches` accepts: how in-process caches of rows stay true to
    this process's own writes, without every service having to remember them."""
    flag = f"dataflow.forget.{id(forget)}"

    def note(session: Session, _context: Any) -> None:
        if any(touches(item) for item in (*session.new, *session.dirty, *session.deleted)):
            session.info[flag] = True

    def after_commit(session: Session) -> None:
        if session.info.pop(flag, False):
            forget()

    def after_rollback(session: Session) -> None:
        session.info.pop(flag, None)

    event.listen(Session, "after_flush", note)
    event.listen(Session, "after_commit", after_commit)
    event.listen(Session, "after_rollback", after_rollback)


async def ping(settings: Settings) -> None:
    async with get_engine(settings).connect() as connection:
        await connection.execute(text("SELECT 1"))
