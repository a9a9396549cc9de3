"""Fan-out across a Redis restart: the shared pub/sub connection comes back, and
subscribers fill what they missed from the log, so each still sees every event once."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as aioredis

from app.db import session_scope
from app.event_types import RunFinished
from app.models.user import Role
from app.pubsub import RESYNC, RedisDispatcher
from app.services import run_events as event_service
from app.streams import follow_run
from tests import factories
from tests.integration.fanout import (
    Watcher,
    emit,
    eventually,
    make_running_run,
    own_redis,
    stored_ids,
)
from tests.live import live_server

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings

pytestmark = pytest.mark.integration


async def _numsub(client: aioredis.Redis, channel: str) -> int:
    return int((await client.pubsub_numsub(channel))[0][1])


async def test_the_dispatcher_subscribes_a_channel_while_it_has_local_subscribers(
    redis_url: str,
) -> None:
    dispatcher = RedisDispatcher(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with dispatcher.subscribe("a") as first:
            async with dispatcher.subscribe("a") as second, dispatcher.subscribe("b") as other:
                assert await _numsub(client, "a") == 1
                await client.publish("a", json.dumps({"n": 1}))
                got = await first.get()
                assert got == {"n": 1}
                assert await second.get() is got  # decoded once, shared
                await client.publish("b", json.dumps({"n": 2}))
                assert await other.get() == {"n": 2}
            assert dispatcher.channels == {"a"}
            await client.publish("a", json.dumps({"n": 3}))
            assert await first.get() == {"n": 3}
            assert await _numsub(client, "a") == 1
        assert dispatcher.channels == set()
        await eventually(
            lambda: _numsub_is(client, ("a", "b"), 0), "both channels are unsubscribed"
        )
    finally:
        await dispatcher.close()
        await client.aclose()


async def _numsub_is(client: aioredis.Redis, channels: tuple[str, ...], value: int) -> bool:
    return all([await _numsub(client, channel) == value for channel in channels])


async def test_the_dispatcher_comes_back_after_a_restart_and_says_resync() -> None:
    with own_redis() as server:
        dispatcher = RedisDispatcher(server.url)
        try:
            async with dispatcher.subscribe("a") as queue:
                await asyncio.to_thread(server.stop)
                await asyncio.to_thread(server.start)
                # Whatever was published meanwhile is lost: the queue is told so.
                assert await asyncio.wait_for(queue.get(), 60) is RESYNC
                client = aioredis.Redis.from_url(server.url)
                try:
                    await client.publish("a", json.dumps({"n": 1}))
                finally:
                    await client.aclose()
                assert await asyncio.wait_for(queue.get(), 60) == {"n": 1}
        finally:
            await dispatcher.close()


async def test_a_redis_restart_mid_stream_still_delivers_every_event_once(
    service_settings: Settings, tmp_path: Path
) -> None:
    with own_redis() as server:
        settings = service_settings.model_copy(update={"redis_url": server.url})
        _, token = await factories.make_user(settings, Role.VIEWER)
        run_id = await make_running_run(settings, tmp_path)
        with live_server(settings) as api:
            watchers = [Watcher(api, token, {"runId": run_id}).start() for _ in range(5)]
            await emit(settings, run_id, n=0)
            await asyncio.gather(*(watcher.first.wait() for watcher in watchers))
            await asyncio.to_thread(server.stop)
            await emit(settings, run_id, n=1)  # stored, but its publish fails: Redis is down
            await asyncio.to_thread(server.start)
            await eventually(
                lambda: _all_have(watchers, 2), "the event stored during the outage arrives"
            )
            await emit(settings, run_id, n=2)
            await emit(settings, run_id, kind="run_finished")
            await asyncio.gather(*(watcher.finished() for watcher in watchers))
    expected = await stored_ids(settings, run_id)
    assert len(expected) == 4
    for watcher in watchers:
        assert watcher.ids() == expected  # none missing, none twice, in order


async def _all_have(watchers: list[Watcher], frames: int) -> bool:
    return all(len(watcher.frames) >= frames for watcher in watchers)


async def test_a_lost_last_message_is_found_in_the_log_once_live_goes_quiet(
    service_settings: Settings, tmp_path: Path
) -> None:
    settings = service_settings
    run_id = await make_running_run(settings, tmp_path)
    first = await emit(settings, run_id, n=0)
    async with session_scope(settings) as session:  # stored, never published
        await event_service.append(
            session=session, run_id=run_id, event=RunFinished(status="succeeded")
        )
    seen = [event.id async for event in follow_run(settings, run_id, poll_seconds=0.2)]
    assert [str(event_id) for event_id in seen] == await stored_ids(settings, run_id)
    assert seen[0] == first
