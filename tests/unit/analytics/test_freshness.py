"""Dataset versions held in-process: trusted briefly, forgotten on a load, never kept
from a read that raced one."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from app.analytics.freshness import (
    KnownVersions,
    VersionListener,
    announce_load,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.config import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def listening(trust: float = 1.0) -> tuple[KnownVersions, Clock]:
    clock = Clock()
    versions = KnownVersions(trust, clock)
    versions.set_listening(True)
    return versions, clock


def test_a_version_is_trusted_for_a_bounded_time_only() -> None:
    versions, clock = listening(trust=1.0)
    versions.confirm("orders", 3, versions.ticket())
    clock.now += 0.9
    assert versions.get("orders") == 3
    clock.now += 0.1  # a lost announcement costs at most this much staleness
    assert versions.get("orders") is None


def test_a_load_makes_the_version_forgotten_at_once() -> None:
    versions, _ = listening()
    versions.confirm("orders", 3, versions.ticket())
    versions.confirm("other", 7, versions.ticket())
    versions.forget("orders")
    assert (versions.get("orders"), versions.get("other")) == (None, 7)


def test_a_read_that_raced_a_load_is_used_once_but_not_kept() -> None:
    versions, _ = listening()
    ticket = versions.ticket()  # the read starts; the load commits and announces
    versions.forget("orders")
    versions.confirm("orders", 3, ticket)  # the read returns what it saw before
    assert versions.get("orders") is None
    versions.confirm("orders", 4, versions.ticket())
    assert versions.get("orders") == 4


def test_versions_only_grow() -> None:
    versions, _ = listening()
    older = versions.ticket()
    versions.confirm("orders", 4, versions.ticket())
    versions.confirm("orders", 3, older)
    assert versions.get("orders") == 4


def test_nothing_is_trusted_unless_the_listener_is_subscribed() -> None:
    clock = Clock()
    versions = KnownVersions(1.0, clock)
    before = versions.ticket()
    versions.confirm("orders", 1, before)
    assert versions.get("orders") is None
    versions.set_listening(True)
    versions.confirm("orders", 1, before)  # read before it subscribed: may miss a load
    assert versions.get("orders") is None
    versions.confirm("orders", 1, versions.ticket())
    assert versions.get("orders") == 1
    versions.set_listening(False)
    assert versions.get("orders") is None


def test_zero_trust_asks_every_time() -> None:
    versions, _ = listening(trust=0)
    versions.confirm("orders", 1, versions.ticket())
    assert versions.get("orders") is None


async def settle(condition: Callable[[], bool]) -> bool:
    """Let the in-process bus deliver (no sleeping: a few turns of the loop)."""
    for _ in range(100):
        if condition():
            return True
        await asyncio.sleep(0)
    return condition()


async def test_the_listener_forgets_what_another_process_announces(
    embedded_settings: Settings,
) -> None:
    versions = KnownVersions(60.0)
    listener = VersionListener(versions)
    listener.ensure(embedded_settings)

    def subscribed_and_trusted() -> bool:
        versions.confirm("orders", 1, versions.ticket())
        return versions.get("orders") == 1

    assert await settle(subscribed_and_trusted)
    # Another process's load: only its announcement reaches this one.
    await announce_load(embedded_settings, "orders", 2, local=[])
    assert await settle(lambda: versions.get("orders") is None)
    versions.confirm("orders", 2, versions.ticket())
    await listener.close()
    assert versions.get("orders") is None  # not listening: nothing trusted
