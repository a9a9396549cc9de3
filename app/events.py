"""Fan-out of run events and run updates to live subscribers: in-process, or Redis
pub/sub across hosts.

Delivery here is best effort (Redis pub/sub is at-most-once); the event log in the
database is the truth, and run-event subscribers fill any gap from it (`app.streams`).
A queue may also receive `RESYNC` (never published): messages may have been lost, so
re-read the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

import redis.asyncio as aioredis

from app.pubsub import SUBSCRIBER_BUFFER, RedisDispatcher, put_nowait_or_drop

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from app.config import Settings
    from app.models.run import Run
    from app.services.run_events import StoredEvent

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "dataflow:"

Subscription = AbstractAsyncContextManager["asyncio.Queue[dict[str, Any]]"]


def run_events_channel(run_id: str) -> str:
    return f"run-events:{run_id}"


def run_updates_channel(pipeline_id: str | None) -> str:
    """Updates of one pipeline's runs, or of every run (None)."""
    return f"run-updates:{pipeline_id or '*'}"


def event_message(stored: StoredEvent) -> dict[str, Any]:
    event = stored.event
    return {
        "id": event.id,
        "previous_id": stored.previous_id,
        "run_id": event.run_id,
        "created_at": event.created_at.isoformat(),
        "kind": event.kind,
        "stage": event.stage,
        "payload": event.payload,
    }


def run_message(run: Run) -> dict[str, Any]:
    return run.model_dump(mode="json")


class EventBus(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...

    def subscribe(self, channel: str) -> Subscription: ...


class LocalEventBus:
    """One per process. Publishers may be on any thread (the in-process worker's loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[
            str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]]
        ] = {}

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._subscribers.get(channel, ()))
        for loop, queue in targets:
            loop.call_soon_threadsafe(put_nowait_or_drop, queue, message)

    def subscribe(self, channel: str) -> Subscription:
        return self._subscription(channel)

    @asynccontextmanager
    async def _subscription(self, channel: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_BUFFER)
        entry = (asyncio.get_running_loop(), queue)
        with self._lock:
            self._subscribers.setdefault(channel, set()).add(entry)
        try:
            yield queue
        finally:
            with self._lock:
                entries = self._subscribers.get(channel, set())
                entries.discard(entry)
                if not entries:
                    self._subscribers.pop(channel, None)


class RedisEventBus:
    """Pub/sub on one channel per run (and per pipeline), so any API replica serves any
    subscriber. Publishing shares a pool; every subscription of the process shares one
    pub/sub connection (`RedisDispatcher`)."""

    def __init__(self, url: str) -> None:
        self._client = aioredis.Redis.from_url(url)
        self.dispatcher = RedisDispatcher(url)

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self._client.publish(CHANNEL_PREFIX + channel, json.dumps(message))

    def subscribe(self, channel: str) -> Subscription:
        return self.dispatcher.subscribe(CHANNEL_PREFIX + channel)

    async def close(self) -> None:
        await self.dispatcher.close()
        await self._client.aclose()


_local_bus = LocalEventBus()
# Redis clients belong to the loop that made them, like database pools.
_redis_buses: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, RedisEventBus]] = (
    weakref.WeakKeyDictionary()
)


def get_event_bus(settings: Settings) -> EventBus:
    if settings.redis_url is None:
        return _local_bus
    per_loop = _redis_buses.setdefault(asyncio.get_running_loop(), {})
    if settings.redis_url not in per_loop:
        per_loop[settings.redis_url] = RedisEventBus(settings.redis_url)
    return per_loop[settings.redis_url]


async def close_event_buses() -> None:
    for bus in _redis_buses.pop(asyncio.get_running_loop(), {}).values():
        await bus.close()


async def publish_changes(
    settings: Settings, run: Run | None, events: Iterable[StoredEvent]
) -> None:
    """After a commit: the run's new events, then its new state for run lists.

    A broken fan-out never fails the caller: subscribers recover from the log."""
    bus = get_event_bus(settings)
    try:
        for stored in events:
            await bus.publish(run_events_channel(stored.event.run_id), event_message(stored))
        if run is not None:
            message = run_message(run)
            await bus.publish(run_updates_channel(run.pipeline_id), message)
            await bus.publish(run_updates_channel(None), message)
    except Exception:
        logger.warning("could not publish run changes", exc_info=True)
