"""Which failures a retry can cure: our own typed errors say so; infrastructure errors
(a dropped connection, a timeout, a restarted server) are transient by nature."""

from __future__ import annotations

import asyncpg
import redis
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.errors import DataFlowError, Transient

_TRANSIENT_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    redis.ConnectionError,
    redis.TimeoutError,
    OperationalError,
    InterfaceError,
)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, DataFlowError):
        return isinstance(error, Transient)
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, _TRANSIENT_INFRASTRUCTURE):
        return True
    cause = error.__cause__ or error.__context__
    return cause is not None and cause is not error and is_transient(cause)


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
