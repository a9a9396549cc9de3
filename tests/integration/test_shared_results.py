"""Shared subscription results over a real socket: subscribers of one run asking the same
thing (document, variables, role) get each event executed once and sent as the same text;
a subscriber asking with another role gets results of its own."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from app.models.user import Role
from graph.sharing import executions
from tests import factories
from tests.integration.fanout import Watcher, emit, make_running_run, stored_ids
from tests.live import live_server

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings

pytestmark = pytest.mark.integration

SUBSCRIBERS = 20


async def test_subscribers_asking_the_same_share_one_execution_per_event(
    service_settings: Settings, tmp_path: Path
) -> None:
    settings = service_settings
    _, viewer_token = await factories.make_user(settings, Role.VIEWER)
    _, operator_token = await factories.make_user(settings, Role.OPERATOR)
    run_id = await make_running_run(settings, tmp_path)
    variables = {"runId": run_id}
    before = executions()
    with live_server(settings) as server:
        viewers = [Watcher(server, viewer_token, variables).start() for _ in range(SUBSCRIBERS)]
        operator = Watcher(server, operator_token, variables).start()
        everyone = [*viewers, operator]
        await emit(settings, run_id, n=0)
        await asyncio.gather(*(watcher.first.wait() for watcher in everyone))
        for n in range(1, 5):
            await emit(settings, run_id, n=n)
        await emit(settings, run_id, kind="run_finished")
        await asyncio.gather(*(watcher.finished() for watcher in everyone))

    events = await stored_ids(settings, run_id)
    assert len(events) == 6
    for watcher in everyone:
        assert watcher.ids() == events
        assert watcher.frames == viewers[0].frames  # the same text (the same answer)
    # One execution per event for the viewers' question, one for the operator's: not one
    # per subscriber.
    assert executions() - before == 2 * len(events)
