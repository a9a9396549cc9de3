"""One Redis pub/sub connection per event loop, multiplexing every channel its local
subscribers want: each message is read and decoded once, and the same object is handed
to every local queue of its channel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

logger = logging.getLogger(__name__)

SUBSCRIBER_BUFFER = 10_000
# Put in a channel's queues when its live feed resumed after an outage (or after a slow
# SUBSCRIBE): messages may have been lost meanwhile, so the subscriber re-reads the log.
# Compared by identity; never published.
RESYNC: dict[str, Any] = {"resync": True}
# How long a new subscription waits for Redis to confirm its SUBSCRIBE. Past it the
# subscriber goes on (the log is the truth) and gets a RESYNC when Redis confirms.
CONFIRM_SECONDS = 2.0
RECONNECT_MIN_SECONDS = 0.05
RECONNECT_MAX_SECONDS = 2.0

Queue = asyncio.Queue[dict[str, Any]]


def put_nowait_or_drop(queue: Queue, message: dict[str, Any]) -> None:
    # A full queue means a stuck subscriber: it finds the gap and catches up from the log.
    if not queue.full():
        queue.put_nowait(message)


@dataclass(eq=False)
class _Channel:
    queues: set[Queue] = field(default_factory=set)
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)
    # Set while messages may have been missed: the next confirmation sends RESYNC.
    stale: bool = False


class RedisDispatcher:
    """Subscribes to a channel with its first local subscriber and unsubscribes after its
    last. One reader task owns the connection; after a connection error it reconnects,
    resubscribes every wanted channel and sends RESYNC to their queues."""

    def __init__(self, url: str) -> None:
        # No retries inside redis-py: the reader must see a broken connection, so that it
        # knows messages were lost and says so to the subscribers.
        self._client = aioredis.Redis.from_url(url, retry=Retry(NoBackoff(), 0))
        self._pubsub = self._client.pubsub()
        self._channels: dict[str, _Channel] = {}
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    @property
    def channels(self) -> set[str]:
        """The channels this process listens to (for tests and diagnostics)."""
        return set(self._channels)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Queue]:
        queue: Queue = asyncio.Queue(SUBSCRIBER_BUFFER)
        state = self._channels.get(channel)
        if state is None:
            state = self._channels[channel] = _Channel()
            await self._send("SUBSCRIBE", channel)
        state.queues.add(queue)
        try:
            await self._wait_confirmed(state)
            yield queue
        finally:
            state.queues.discard(queue)
            if not state.queues and self._channels.get(channel) is state:
                del self._channels[channel]
                await self._send("UNSUBSCRIBE", channel)

    async def _wait_confirmed(self, state: _Channel) -> None:
        if state.confirmed.is_set():
            return
        try:
            await asyncio.wait_for(state.confirmed.wait(), CONFIRM_SECONDS)
        except TimeoutError:
            state.stale = True

    async def _send(self, command: str, channel: str) -> None:
        """SUBSCRIBE or UNSUBSCRIBE; the reader reads the confirmations. Redis being down
        is no error here: the reader resubscribes the wanted channels when it is back."""
        self._ensure_reader()
        if not self._connected.is_set():
            return
        try:
            if command == "SUBSCRIBE":
                await self._pubsub.subscribe(channel)
            else:
                await self._pubsub.unsubscribe(channel)
        except (RedisError, OSError):
            logger.warning("could not %s %s; retrying on reconnect", command, channel)

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever(), name="redis-dispatcher")

    async def _read_forever(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            try:
                await self._connect()
                delay = RECONNECT_MIN_SECONDS
                await self._read()
            except (RedisError, OSError) as error:
                logger.warning("redis pub/sub connection lost (%s); reconnecting", error)
            except Exception:
                # Whatever it was, the reader must outlive it: its subscribers depend on it.
                logger.exception("redis pub/sub reader failed; reconnecting")
            self._connected.clear()
            for state in self._channels.values():
                state.confirmed.clear()
                state.stale = True
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            self._pubsub = self._client.pubsub()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _connect(self) -> None:
        await self._pubsub.connect()  # type: ignore[no-untyped-call]
        self._connected.set()
        # Every channel wanted now; ones added from here on are sent by `_send`.
        if self._channels:
            await self._pubsub.subscribe(*self._channels)

    async def _read(self) -> None:
        while True:
            raw = await self._pubsub.get_message(timeout=None)
            if raw is None:
                continue
            kind, channel = raw["type"], raw["channel"].decode()
            state = self._channels.get(channel)
            if state is None:
                continue  # unsubscribed meanwhile
            if kind == "message":
                try:
                    message = json.loads(raw["data"])
                except ValueError:
                    logger.warning("not JSON on %s: %.200r", channel, raw["data"])
                    continue
                for queue in state.queues:
                    put_nowait_or_drop(queue, message)
            elif kind == "subscribe":
                self._confirm(state)

    @staticmethod
    def _confirm(state: _Channel) -> None:
        if state.stale:
            state.stale = False
            for queue in state.queues:
                put_nowait_or_drop(queue, RESYNC)
        state.confirmed.set()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._client.aclose()
