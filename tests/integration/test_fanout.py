"""Fan-out through Redis pub/sub: many subscribers on one run all see every event once."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from app.db import session_scope
from app.models.user import Role
from app.services import run_events as event_service
from tests import factories
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_server
from tests.workers import dramatiq_worker

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings

pytestmark = pytest.mark.integration

SUBSCRIBERS = 100


async def test_a_hundred_subscribers_receive_every_event(
    service_settings: Settings, tmp_path: Path
) -> None:
    settings = service_settings.model_copy(update={"etl_batch_rows": 1000})
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
