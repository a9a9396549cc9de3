"""Which failures a retry can cure: our own typed errors say so; infrastructure errors
(a dropped connection, a timeout, a restarted server) are transient by nature."""

from __future__ import annotations

import asyncpg
import redis
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.errors import DataFlowError, Transient

# A connection to PostgreSQL or Redis that is gone, or could not be made.
_LOST_CONNECTION: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.CrashShutdownError,
    # An idle connection that read the server's FATAL goodbye before the socket closed
    # fails its next statement with this ("another operation is in progress").
    asyncpg.exceptions.InternalClientError,
    redis.ConnectionError,
    redis.TimeoutError,
)

# Beyond a lost connection, a run's retry also outlasts these: SQLAlchemy's wrappers for
# a database that is locked, restarting or refusing us, and other OS-level failures.
_TRANSIENT_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    *_LOST_CONNECTION,
    OSError,
    OperationalError,
    InterfaceError,
)


def is_transient(error: BaseException) -> bool:
    """Our typed errors say whether a retry helps, unless what caused them was a lost
    connection: then the root cause decides (a load that failed because its connection
    was killed will succeed on a new one)."""
    if isinstance(error, DataFlowError) and isinstance(error, Transient):
        return True
    return any(_infrastructure_transient(cause) for cause in _causes(error))


def is_lost_connection(error: BaseException) -> bool:
    """Whether `error` comes down to a lost connection to PostgreSQL or Redis: the same
    request a moment later goes out on a fresh one (what the API tells its clients)."""
    return any(_lost_connection(cause) for cause in _causes(error))


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _infrastructure_transient(error: BaseException) -> bool:
    if _lost_connection(error):
        return True
    if isinstance(error, DataFlowError | asyncpg.exceptions.InterfaceError):
        return False  # a typed error, or a misused connection (see `_lost_connection`)
    return isinstance(error, _TRANSIENT_INFRASTRUCTURE)


def _lost_connection(error: BaseException) -> bool:
    if isinstance(error, DataFlowError):
        return False
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, asyncpg.exceptions.InterfaceError):
        # Only a closed connection; other interface errors are programming mistakes.
        return "connection is closed" in str(error)
    return isinstance(error, _LOST_CONNECTION)


def error_code(error: BaseException) -> str:
    if isinstance(error, DataFlowError):
        return error.code
    return "CONNECTION_LOST" if is_transient(error) else "INTERNAL_ERROR"


def error_message(error: BaseException) -> str:
    if isinstance(error, DataFlowError):
        return error.message
    if is_transient(error):
        return f"{type(error).__name__}: {str(error)[:300]}"
    return "internal error; see the worker's logs"
