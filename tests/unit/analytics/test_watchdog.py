"""The watchdog interrupts statements past their deadline, and only those."""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from app.analytics.watchdog import Watchdog

SLOW = "SELECT count(DISTINCT a.range + b.range) FROM range(20000) a, range(20000) b"


def test_a_statement_past_its_deadline_is_interrupted_and_others_are_not() -> None:
    watchdog = Watchdog()
    connection = duckdb.connect(":memory:")
    slow, quick = connection.cursor(), connection.cursor()
    released = watchdog.watch(quick, timeout=0.05)
    watchdog.release(released)
    ticket = watchdog.watch(slow, timeout=0.1)
    started = time.monotonic()
    with pytest.raises(duckdb.InterruptException):
        slow.execute(SLOW).fetchall()
    assert time.monotonic() - started < 5
    watchdog.release(ticket)
    time.sleep(0.1)  # the released deadline has passed: nothing is interrupted
    assert quick.execute("SELECT 42").fetchall() == [(42,)]
    assert slow.execute("SELECT 1").fetchall() == [(1,)]  # reusable after an interrupt


def test_many_statements_at_once_each_get_their_own_deadline() -> None:
    watchdog = Watchdog()
    connection = duckdb.connect(":memory:")
    outcomes: dict[int, str] = {}

    def run(index: int) -> None:
        cursor = connection.cursor()
        ticket = watchdog.watch(cursor, timeout=0.1 if index % 2 else 30)
        try:
            cursor.execute(SLOW if index % 2 else "SELECT 1").fetchall()
            outcomes[index] = "done"
        except duckdb.InterruptException:
            outcomes[index] = "interrupted"
        finally:
            watchdog.release(ticket)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes == {i: "interrupted" if i % 2 else "done" for i in range(6)}
