"""Turning asyncpg and socket failures into the warehouse's typed errors."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import asyncpg

from app.errors import DataFlowError, WarehouseError, WarehouseUnavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

# Failures a retry can cure: the server went away, is starting or shutting down, is out
# of connections, rolled us back to break a deadlock or a serialization conflict, or a
# lock wait timed out.
_TRANSIENT = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    # Another load of the table held it past lock_timeout; it will finish.
    asyncpg.exceptions.LockNotAvailableError,
    OSError,
    TimeoutError,
)


@contextmanager
def pg_errors(action: str) -> Iterator[None]:
    """Raise `WarehouseUnavailable` for transient failures, `WarehouseError` otherwise."""
    try:
        yield
    except DataFlowError:
        raise
    except asyncpg.exceptions.InternalClientError as error:
        # An idle connection that read the server's FATAL goodbye (a terminated backend,
        # a restart) before it saw the socket close fails its next statement with this,
        # worded as asyncpg's own confusion ("another operation is in progress").
        raise WarehouseUnavailable(f"{action}: the server closed the connection") from error
    except _TRANSIENT as error:
        raise WarehouseUnavailable.from_driver(action, _reason(error)) from error
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        lost = _lost_connection_behind(error)
        if lost is not None:
            # Cleaning up after a lost connection fails in its own words ("cannot call
            # Transaction.__aexit__(): the underlying connection is closed"): the loss is
            # the failure, and a retry cures it.
            raise WarehouseUnavailable.from_driver(action, _reason(lost)) from error
        raise WarehouseError.from_driver(action, _reason(error)) from error


def _lost_connection_behind(error: BaseException) -> BaseException | None:
    """The lost connection `error` was raised while handling, if any."""
    seen: list[BaseException] = []
    current = error.__context__
    while current is not None and current not in seen and len(seen) < 10:
        if isinstance(current, _TRANSIENT):
            return current
        seen.append(current)
        current = current.__context__
    return None


# Some errors quote their input (a whole COPY payload); messages stay readable.
MAX_REASON = 500


def _reason(error: BaseException) -> str:
    message = str(getattr(error, "message", None) or error or type(error).__name__)
    detail = getattr(error, "detail", None)
    text = f"{message} ({detail})" if detail else message
    return text if len(text) <= MAX_REASON else text[:MAX_REASON] + "..."
