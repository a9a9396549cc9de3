"""How asyncpg's failures read as the warehouse's typed errors."""

from __future__ import annotations

import asyncpg
import pytest

from app.errors import WarehouseError, WarehouseUnavailable
from app.etl.warehouse.pg_errors import pg_errors
from app.faults import is_transient


def _leave_a_transaction_after_losing_the_connection() -> None:
    """What a load saw when the server hung up mid-batch: the COPY fails with the lost
    connection, then leaving its transaction fails with InterfaceError."""
    try:
        raise asyncpg.exceptions.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        )
    except asyncpg.exceptions.ConnectionDoesNotExistError:
        raise asyncpg.exceptions.InterfaceError(
            "cannot call Transaction.__aexit__(): the underlying connection is closed"
        ) from None


def test_a_cleanup_failure_after_a_lost_connection_is_the_lost_connection() -> None:
    # The second error used to decide, as a terminal WAREHOUSE_ERROR, about one time in
    # two (test_a_load_whose_connection_is_dropped_between_batches_is_transient).
    with pytest.raises(WarehouseUnavailable) as raised, pg_errors("cannot load batch 0"):
        _leave_a_transaction_after_losing_the_connection()

    assert raised.value.code == "WAREHOUSE_UNAVAILABLE"
    assert "closed in the middle of operation" in raised.value.message
    assert is_transient(raised.value)


def test_a_misused_connection_alone_is_a_warehouse_error() -> None:
    with pytest.raises(WarehouseError) as raised, pg_errors("cannot load batch 0"):
        raise asyncpg.exceptions.InterfaceError("cannot perform operation: another operation")

    assert not isinstance(raised.value, WarehouseUnavailable)
    assert raised.value.code == "WAREHOUSE_ERROR"
