"""Fan-out through Redis pub/sub: many subscribers on one run all see every event once,
through one pub/sub connection per process, each in the shape it asked for."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import pytest

from app.db import session_scope
from app.models.user import Role
from app.services import run_events as event_service
from tests import factories
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.integration.fanout import (
    Watcher,
    emit,
    eventually,
    make_running_run,
    redis_subscribers,
    stored_ids,
)
from tests.live import GraphQLClient, live_server
from tests.workers import dramatiq_worker

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from app.config import Settings

pytestmark = pytest.mark.integration

SUBSCRIBERS = 100


async def test_a_hundred_subscribers_receive_every_event(
    service_settings: Settings, tmp_path: Path
) -> None:
    # Every batch's progress is an event: many to deliver to each subscriber.
    settings = service_settings.model_copy(
        update={"etl_batch_rows": 1000, "run_progress_seconds": 0}
    )
    _, operator_token = await factories.make_user(settings, Role.OPERATOR)
    _, viewer_token = await factories.make_user(settings, Role.VIEWER)
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(30_000))
    table = factories.unique("fanout")

    with dramatiq_worker(settings, tmp_path / "worker.log"), live_server(settings) as server:
        operator = GraphQLClient(server, operator_token)
        pipeline = await flows.define_pipeline(
            operator, csv_path, factories.orders_spec(table, "append"), table
        )
        run_id = await flows.trigger(operator, pipeline)
        viewer = GraphQLClient(server, viewer_token)
        streams = await asyncio.gather(
            *(
                viewer.subscribe(ops.RUN_EVENTS, {"runId": run_id}, timeout=120)
                for _ in range(SUBSCRIBERS)
            )
        )

    async with session_scope(settings) as session:
        stored = await event_service.list_after(session=session, run_id=run_id)
    expected = [str(event.id) for event in stored]
    assert len(expected) > 20  # queued, started, stages, many progress ticks, finished
    for messages in streams:
        events = flows.events_of(messages)
        assert [event["id"] for event in events] == expected
    flows.assert_well_formed_stream(flows.events_of(streams[0]), "SUCCEEDED")


LIVE_SUBSCRIBERS = 50


async def test_subscribers_share_one_redis_subscription_and_the_same_frames(
    service_settings: Settings, tmp_path: Path
) -> None:
    settings = service_settings
    assert settings.redis_url is not None
    _, token = await factories.make_user(settings, Role.VIEWER)
    run_id = await make_running_run(settings, tmp_path)
    with live_server(settings) as server:
        watchers = [
            Watcher(server, token, {"runId": run_id}).start() for _ in range(LIVE_SUBSCRIBERS)
        ]
        await emit(settings, run_id, n=0)
        await asyncio.gather(*(watcher.first.wait() for watcher in watchers))
        # Every subscriber is live now, and the process listens with one connection.
        assert await redis_subscribers(settings.redis_url, run_id) == 1
        for n in range(1, 10):
            await emit(settings, run_id, n=n)
        await emit(settings, run_id, kind="run_finished")
        await asyncio.gather(*(watcher.finished() for watcher in watchers))

        async def unsubscribed() -> bool:
            assert settings.redis_url is not None
            return await redis_subscribers(settings.redis_url, run_id) == 0

        await eventually(unsubscribed, "the last subscriber's end unsubscribes the channel")

    expected = await stored_ids(settings, run_id)
    assert len(expected) == 11
    for watcher in watchers:
        assert watcher.ids() == expected  # each once, in order
        # Same document and variables: the same text, as Strawberry itself encodes it.
        assert watcher.frames == watchers[0].frames
    for text in watchers[0].frames:
        assert text == json.dumps(json.loads(text), separators=(",", ":"))


async def test_a_channel_lives_as_long_as_its_last_local_subscriber(
    service_settings: Settings, tmp_path: Path
) -> None:
    settings = service_settings
    assert settings.redis_url is not None
    _, token = await factories.make_user(settings, Role.VIEWER)
    run_id = await make_running_run(settings, tmp_path)

    async def listeners() -> int:
        assert settings.redis_url is not None
        return await redis_subscribers(settings.redis_url, run_id)

    with live_server(settings) as server:
        leaving, staying = (Watcher(server, token, {"runId": run_id}).start() for _ in "ab")
        await emit(settings, run_id, n=0)
        await asyncio.gather(leaving.first.wait(), staying.first.wait())
        await leaving.stop()
        await emit(settings, run_id, n=1)
        await eventually(lambda: _has(staying, 2), "the staying subscriber gets the next event")
        assert await listeners() == 1
        await staying.stop()
        await eventually(lambda: _equals(listeners, 0), "the channel is unsubscribed")
        # A new subscriber subscribes it again, and gets the log and then live events.
        again = Watcher(server, token, {"runId": run_id}).start()
        await again.first.wait()
        await eventually(lambda: _equals(listeners, 1), "the channel is subscribed again")
        await emit(settings, run_id, kind="run_finished")
        await again.finished()
    assert again.ids() == await stored_ids(settings, run_id)


async def _has(watcher: Watcher, frames: int) -> bool:
    return len(watcher.frames) >= frames


async def _equals(count: Callable[[], Awaitable[int]], value: int) -> bool:
    return await count() == value


async def test_different_selection_sets_each_get_their_own_shape(
    service_settings: Settings, tmp_path: Path
) -> None:
    settings = service_settings
    _, viewer_token = await factories.make_user(settings, Role.VIEWER)
    _, operator_token = await factories.make_user(settings, Role.OPERATOR)
    run_id = await make_running_run(settings, tmp_path)
    narrow = "subscription($runId: ID!) { runEvents(runId: $runId) { id kind } }"
    aliased = "subscription($runId: ID!) { runEvents(runId: $runId) { id n: payload } }"
    variables = {"runId": run_id}
    with live_server(settings) as server:
        watchers = {
            "full": Watcher(server, viewer_token, variables).start(),
            "narrow": Watcher(server, viewer_token, variables, narrow).start(),
            "aliased": Watcher(server, viewer_token, variables, aliased).start(),
            "operator": Watcher(server, operator_token, variables, narrow).start(),
        }
        await emit(settings, run_id, n=0)
        await asyncio.gather(*(watcher.first.wait() for watcher in watchers.values()))
        await emit(settings, run_id, n=1)
        await emit(settings, run_id, kind="run_finished")
        await asyncio.gather(*(watcher.finished() for watcher in watchers.values()))

    expected = await stored_ids(settings, run_id)
    shapes = {
        "full": {"id", "kind", "stage", "payload"},
        "narrow": {"id", "kind"},
        "aliased": {"id", "n"},
        "operator": {"id", "kind"},
    }
    for name, watcher in watchers.items():
        assert watcher.ids() == expected, name
        assert all(set(event) == shapes[name] for event in watcher.events()), name
    assert watchers["aliased"].events()[1]["n"] == {"rows_read": 1, "rows_rejected": 0}
    assert watchers["operator"].frames == watchers["narrow"].frames
