"""Which failures are worth a retry."""

from __future__ import annotations

import sqlite3

import asyncpg
import redis
from sqlalchemy.exc import OperationalError

from app.errors import SourceMalformed, WarehouseError, WarehouseUnavailable
from app.etl.sources.sql.reader import sql_error
from app.faults import error_code, error_message, is_lost_connection, is_transient


def _raised_from(outer: Exception, cause: BaseException) -> Exception:
    try:
        raise outer from cause
    except Exception as error:
        return error


def test_typed_errors_decide_for_themselves() -> None:
    assert is_transient(WarehouseUnavailable("down"))
    assert not is_transient(SourceMalformed("line 4: expected 3 fields, found 5"))
    assert not is_transient(WarehouseError("column x is not of type integer"))


def test_a_lost_connection_underneath_makes_a_terminal_error_transient() -> None:
    closed = asyncpg.exceptions.InterfaceError("cannot perform operation: connection is closed")
    assert is_transient(_raised_from(WarehouseError("cannot load"), closed))
    misuse = asyncpg.exceptions.InterfaceError("another operation is in progress")
    assert not is_transient(_raised_from(WarehouseError("cannot load"), misuse))


def test_a_connection_that_read_the_servers_goodbye_is_lost() -> None:
    # What an idle asyncpg connection raises when PostgreSQL terminated its backend.
    goodbye = asyncpg.exceptions.InternalClientError(
        "cannot switch to state 15; another operation (2) is in progress"
    )
    assert is_transient(goodbye)
    assert error_code(goodbye) == "CONNECTION_LOST"
    from_a_source = sql_error(goodbye)  # an sql source's connection, the same way
    assert is_transient(from_a_source)
    assert from_a_source.code == "SOURCE_UNAVAILABLE"


def test_a_lost_connection_is_told_apart_from_other_database_failures() -> None:
    # What the API answers SERVICE_UNAVAILABLE (retry) rather than INTERNAL_ERROR.
    refused = ConnectionRefusedError("connection refused")
    assert is_lost_connection(_raised_from(RuntimeError("cannot read runs"), refused))
    assert is_lost_connection(redis.ConnectionError("Connection reset by peer"))
    no_table = OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: x"))
    assert is_transient(no_table)  # a run retries it (SQLite also says "database is locked")
    assert not is_lost_connection(no_table)
    assert not is_lost_connection(WarehouseUnavailable("down"))


def test_infrastructure_errors_and_their_codes() -> None:
    assert is_transient(ConnectionResetError("reset by peer"))
    assert is_transient(TimeoutError())
    assert error_code(ConnectionResetError("reset")) == "CONNECTION_LOST"
    assert error_code(ValueError("bug")) == "INTERNAL_ERROR"
    assert "see the worker's logs" in error_message(ValueError("secret detail"))
    assert error_message(WarehouseUnavailable("down")) == "down"
