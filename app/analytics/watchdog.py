"""One thread that interrupts DuckDB statements running past their deadline.

A `threading.Timer` per query would start (and tear down) a thread for every query;
this keeps one, sleeping until the nearest deadline.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


class Watchdog:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._deadlines: list[tuple[float, int]] = []
        self._watched: dict[int, duckdb.DuckDBPyConnection] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, cursor: duckdb.DuckDBPyConnection, timeout: float) -> int:
        """Interrupt `cursor` after `timeout` seconds unless released first."""
        ticket = next(self._ids)
        with self._condition:
            self._watched[ticket] = cursor
            heapq.heappush(self._deadlines, (time.monotonic() + timeout, ticket))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="analytics-watchdog", daemon=True
                )
                self._thread.start()
            self._condition.notify()
        return ticket

    def release(self, ticket: int) -> None:
        with self._condition:
            self._watched.pop(ticket, None)

    def _run(self) -> None:
        while True:
            with self._condition:
                cursor = self._next_due()
            if cursor is not None:
                # An interrupt that lands after the statement ended is harmless: DuckDB
                # clears it when the cursor's next statement starts.
                cursor.interrupt()

    def _next_due(self) -> duckdb.DuckDBPyConnection | None:
        """Wait (holding the condition) until a watched deadline passes; its cursor."""
        while True:
            while self._deadlines and self._deadlines[0][1] not in self._watched:
                heapq.heappop(self._deadlines)  # released before its deadline
            if not self._deadlines:
                self._condition.wait()
                continue
            deadline, ticket = self._deadlines[0]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                heapq.heappop(self._deadlines)
                return self._watched.pop(ticket)
            self._condition.wait(remaining)


WATCHDOG = Watchdog()
