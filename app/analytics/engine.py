"""Where analytics statements run: DuckDB, on reused cursors, in threads, with a deadline.

On a DuckDB warehouse the statement reads its tables in place, on the connection the
warehouse lends (DuckDB lets one process open a file once). Otherwise it reads the
Parquet replica from an in-memory DuckDB (S3 through httpfs). See `read_paths`.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import duckdb

from app.analytics.compiler import Relation
from app.analytics.errors import DatasetNotFound, QueryTooExpensive
from app.analytics.extensions import configure_s3
from app.analytics.results import to_rows
from app.analytics.watchdog import WATCHDOG
from app.errors import WarehouseError, WarehouseUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.analytics.compiler import CompiledQuery
    from app.analytics.members import DatasetInfo
    from app.config import Settings
    from app.etl.warehouse import InPlace

MAX_IDLE_CURSORS = 8

# What a client is told when DuckDB fails: its words name server paths and quote the
# statement, so they go to the log only.
UNREADABLE = (
    "cannot read the dataset's data: the warehouse or its analytics replica is missing or "
    "unreachable from the API; retry shortly, and if it persists ask an operator to check "
    "that the API reaches the warehouse and the replica (S3_BUCKET, shared with the workers)"
)
FAILED = "the analytics query failed in the warehouse; an operator can find why in the log"


class QueryEngine:
    """One per process and warehouse target; thread-safe."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        *,
        relation: Callable[[DatasetInfo], Relation],
        release: Callable[[], None],
    ) -> None:
        self._connection = connection
        self._relation = relation
        self._release = release
        self._idle: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def in_place(cls, access: InPlace) -> QueryEngine:
        """Statements read the warehouse's tables on the connection it lends."""

        def relation(dataset: DatasetInfo) -> Relation:
            return Relation(table=access.relation(dataset.table))

        return cls(access.acquire(), relation=relation, release=access.release)

    @classmethod
    def replica(cls, settings: Settings) -> QueryEngine:
        """Statements read each dataset's current Parquet replica."""
        connection = duckdb.connect(":memory:")
        # Footers of the current replica are read once, not for every query; GLOBAL so
        # that the cursors (connections of their own) share the setting.
        connection.execute("SET GLOBAL parquet_metadata_cache = true")
        if settings.s3_bucket:
            configure_s3(connection, settings)
        return cls(connection, relation=_replica_of, release=connection.close)

    def relation(self, dataset: DatasetInfo) -> Relation:
        return self._relation(dataset)

    def run(self, compiled: CompiledQuery, timeout: float) -> tuple[list[list[Any]], float]:
        """Rows and milliseconds; blocking, so call it from a thread."""
        cursor = self._borrow()
        started = time.perf_counter()
        ticket = WATCHDOG.watch(cursor, timeout)
        try:
            result = cursor.execute(compiled.sql, list(compiled.params))
            raw = result.fetchall()
            sql_types = [str(column[1]) for column in result.description or []]
        except duckdb.InterruptException:
            raise QueryTooExpensive(
                f"the query ran longer than {timeout:g} s and was stopped: narrow the time "
                "range, use a coarser granularity or fewer dimensions",
                details={"timeout_seconds": timeout},
            ) from None
        except duckdb.IOException as error:
            raise WarehouseUnavailable(
                f"cannot read the dataset: {error}", client_message=UNREADABLE
            ) from error
        except duckdb.Error as error:
            raise WarehouseError(
                f"the analytics query failed: {error}", client_message=FAILED
            ) from error
        finally:
            WATCHDOG.release(ticket)
            elapsed = (time.perf_counter() - started) * 1000
            self._give_back(cursor)
        return to_rows(raw, compiled.columns, sql_types), elapsed

    def _borrow(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._closed:
                raise WarehouseUnavailable("the analytics engine is shut down")
            if self._idle:
                return self._idle.pop()
        return self._connection.cursor()

    def _give_back(self, cursor: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < MAX_IDLE_CURSORS:
                self._idle.append(cursor)
                return
        cursor.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
        for cursor in idle:
            cursor.close()
        self._release()


def _replica_of(dataset: DatasetInfo) -> Relation:
    if dataset.replica_uri is None:
        raise DatasetNotFound(f"dataset {dataset.name} has no analytics replica yet; load it")
    return Relation(parquet=dataset.replica_uri)
