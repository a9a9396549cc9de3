"""Dataset versions an API process may trust without asking the metadata database, and
the message by which a load anywhere makes every process forget them.

Consistency. The version decides what a query reads and which cached answers it may
reuse, so a stale one would show old numbers after a load. It is held under three rules:

1. A load's own process forgets the dataset's version synchronously, after the commit
   and before the hook returns (embedded mode, in-process workers, tests): there,
   "after a load the new numbers show" holds exactly, as when every query asked.
2. Every load publishes `{"dataset": name, "version": n}` after its commit on the event
   bus (Redis pub/sub across hosts); each API process listens and forgets that dataset,
   so the next query reads the new version. Normally this lands in well under a
   millisecond, before the worker has even marked the run succeeded.
3. Pub/sub is at-most-once (a reconnect drops what was sent meanwhile), so no version is
   trusted longer than `ANALYTICS_VERSION_TRUST_SECONDS` (1 s) after the database said
   so, and nothing is trusted while the listener is not subscribed; versions read before
   it (re)subscribed are discarded. A lost message therefore means answers at most that
   much behind a load, never indefinitely; 0 turns trust off (every query asks).

A version read from the database races a message for the same dataset: each read takes
a ticket first, and a message counted after the ticket makes the read's answer unfit to
keep (it may predate the load), so it is used once but not remembered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, TypeGuard

from app.events import get_event_bus

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.config import Settings

logger = logging.getLogger(__name__)

CHANNEL = "analytics-datasets"
MAX_FORGOTTEN = 4096
# A listener that could not subscribe (Redis away) is retried this often, not per query.
LISTEN_RETRY_SECONDS = 5.0
# How long a process's first analytics query waits for the subscription (one round trip
# to Redis, normally); past it, queries ask the database until the listener is up.
LISTEN_WAIT_SECONDS = 1.0


class KnownVersions:
    """Dataset name -> version, each trusted for `trust_seconds`; thread-safe."""

    def __init__(self, trust_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.trust_seconds = trust_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int, float]] = {}  # version, when the database said
        self._count = 0  # messages and listener changes so far
        self._forgotten: dict[str, int] = {}  # name -> count at its last message
        self._floor = 0  # reads ticketed before this count are never kept
        self._listening = False

    def get(self, name: str) -> int | None:
        """The version, if known and still within its trust; else ask the database."""
        entry = self._entries.get(name)
        if entry is None or not self._listening:
            return None
        version, confirmed_at = entry
        if self._clock() - confirmed_at >= self.trust_seconds:
            return None
        return version

    def ticket(self) -> tuple[int, float]:
        """Taken just before reading a version from the database."""
        with self._lock:
            return self._count, self._clock()

    def confirm(self, name: str, version: int, ticket: tuple[int, float]) -> None:
        """Remember what the database said, unless a change was heard since the ticket."""
        count, asked_at = ticket
        with self._lock:
            if not self._listening or count < self._floor:
                return
            if self._forgotten.get(name, -1) > count:
                return
            current = self._entries.get(name)
            if current is not None and current[0] > version:
                return  # versions only grow: this read was older than one kept already
            self._entries[name] = (version, asked_at)

    def forget(self, name: str) -> None:
        """A load changed `name`: its next query asks the database."""
        with self._lock:
            self._count += 1
            self._entries.pop(name, None)
            if len(self._forgotten) >= MAX_FORGOTTEN:
                self._forgotten.clear()
                self._floor = self._count
            self._forgotten[name] = self._count

    def set_listening(self, listening: bool) -> None:
        """Whatever was read before the listener (re)subscribed may have missed a change."""
        with self._lock:
            self._count += 1
            self._floor = self._count
            self._listening = listening
            self._entries.clear()
            self._forgotten.clear()


class VersionListener:
    """One subscription to the datasets channel per process, on the loop that first
    needed it; `KnownVersions` trusts nothing while it is down."""

    def __init__(self, versions: KnownVersions) -> None:
        self.versions = versions
        self._task: asyncio.Task[None] | None = None
        self._subscribed: asyncio.Event | None = None
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def ensure(self, settings: Settings) -> None:
        """Start listening if nobody is (cheap when someone is)."""
        if _alive(self._task) or self.versions.trust_seconds <= 0:
            return
        with self._lock:
            if _alive(self._task) or time.monotonic() < self._retry_at:
                return
            if self._task is not None and not self._task.done():
                # Its loop was closed under it (a test's, a worker's): it hears nothing.
                self.versions.set_listening(False)
            self._retry_at = time.monotonic() + LISTEN_RETRY_SECONDS
            subscribed = self._subscribed = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._listen(settings, subscribed), name="analytics-version-listener"
            )

    async def start(self, settings: Settings, wait: float) -> None:
        """Start listening and wait (briefly) until subscribed, so that the very first
        versions this process reads can be trusted."""
        self.ensure(settings)
        task, subscribed = self._task, self._subscribed
        if task is None or subscribed is None or task.get_loop() is not asyncio.get_running_loop():
            return
        waiter = asyncio.ensure_future(subscribed.wait())
        try:  # until subscribed, or failed (Redis away), or `wait` passed
            await asyncio.wait({waiter, task}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()

    async def _listen(self, settings: Settings, subscribed: asyncio.Event) -> None:
        try:
            async with get_event_bus(settings).subscribe(CHANNEL) as queue:
                self.versions.set_listening(True)
                subscribed.set()
                while True:
                    message = await queue.get()
                    name = message.get("dataset")
                    if isinstance(name, str):
                        self.versions.forget(name)
        except Exception:
            logger.warning("analytics: not hearing of dataset loads", exc_info=True)
        finally:
            self.versions.set_listening(False)

    async def close(self) -> None:
        task, self._task = self._task, None
        if not _alive(task):
            self.versions.set_listening(False)
            return
        loop = task.get_loop()
        if loop is asyncio.get_running_loop():
            await _stop(task)
        elif loop.is_running():
            stopping = asyncio.run_coroutine_threadsafe(_stop(task), loop)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.wrap_future(stopping), timeout=5)


def _alive(task: asyncio.Task[None] | None) -> TypeGuard[asyncio.Task[None]]:
    return task is not None and not task.done() and not task.get_loop().is_closed()


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def version_message(name: str, version: int) -> dict[str, Any]:
    return {"dataset": name, "version": version}


async def announce_load(
    settings: Settings, name: str, version: int, local: list[KnownVersions]
) -> None:
    """After a load's commit: forget the dataset here at once, then tell every process.

    A broken fan-out never fails the load: other processes catch up within their trust."""
    for versions in local:
        versions.forget(name)
    try:
        await get_event_bus(settings).publish(CHANNEL, version_message(name, version))
    except Exception:
        logger.warning("could not announce version %s of dataset %s", version, name, exc_info=True)
