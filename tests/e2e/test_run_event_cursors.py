"""`runEvents(runId, after)` over a real WebSocket: a cursor at a finished run's last
event completes at once, an earlier one replays the rest and completes, and a cursor that
is not an event of that run is refused with INVALID_INPUT naming `after`.

Each case runs on the embedded backends and on PostgreSQL + Redis with a worker process.
A stream that never completes fails its test at the deadline (a generous bound on a
hang, not a speed check)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from app.models.user import Role
from tests import factories
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_server
from tests.workers import dramatiq_worker

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.config import Settings

# The longest a stream whose every event is stored may take to complete.
COMPLETES_WITHIN = 20.0


@dataclass
class FinishedRuns:
    client: GraphQLClient
    run_id: str
    events: list[dict[str, Any]]  # every event of `run_id`, in order
    other_run_events: list[dict[str, Any]]


@pytest.fixture(params=["embedded", "services"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The backends under test; with services, a real worker process runs the runs."""
    if request.param == "embedded":
        yield request.getfixturevalue("embedded_settings")
        return
    service_settings: Settings = request.getfixturevalue("service_settings")
    with dramatiq_worker(service_settings, tmp_path / "worker.log"):
        yield service_settings


@pytest.fixture
async def finished(settings: Settings, tmp_path: Path) -> Any:
    """Two finished runs of one pipeline, served by a live app."""
    _, token = await factories.make_user(settings, Role.VIEWER)
    _, operator_token = await factories.make_user(settings, Role.OPERATOR)
    with live_server(settings) as url:
        operator = GraphQLClient(url, operator_token)
        csv_path = factories.write_csv(tmp_path, factories.orders_rows(20))
        table = factories.unique("cursors")
        spec = factories.orders_spec(table, "append")
        pipeline_id = await flows.define_pipeline(operator, csv_path, spec, table)
        other_run = await flows.trigger(operator, pipeline_id)
        await flows.wait_for_end(operator, other_run)
        run_id = await flows.trigger(operator, pipeline_id)
        await flows.wait_for_end(operator, run_id)
        viewer = GraphQLClient(url, token)
        events = await stream(viewer, run_id, None)
        other = await stream(viewer, other_run, None)
        flows.assert_well_formed_stream(events, "SUCCEEDED")
        yield FinishedRuns(viewer, run_id, events, other)


async def subscribe(client: GraphQLClient, run_id: str, after: str | None) -> list[dict[str, Any]]:
    """Every message of the subscription; fails the test if it has not completed (or
    errored) by the deadline."""
    try:
        return await client.subscribe(
            ops.RUN_EVENTS, {"runId": run_id, "after": after}, timeout=COMPLETES_WITHIN
        )
    except TimeoutError:
        pytest.fail(f"runEvents(after: {after!r}) did not complete in {COMPLETES_WITHIN} s")


async def stream(client: GraphQLClient, run_id: str, after: str | None) -> list[dict[str, Any]]:
    return flows.events_of(await subscribe(client, run_id, after))


async def assert_refused(client: GraphQLClient, run_id: str, after: str) -> None:
    messages = await subscribe(client, run_id, after)
    assert len(messages) == 1, messages
    errors = messages[0]["errors"]
    assert [error["extensions"]["code"] for error in errors] == ["INVALID_INPUT"], errors
    assert errors[0]["message"].startswith("after:"), errors


async def test_a_cursor_at_the_last_event_of_a_finished_run_completes_at_once(
    finished: FinishedRuns,
) -> None:
    last = finished.events[-1]
    assert last["kind"] == "run_finished"
    assert await stream(finished.client, finished.run_id, last["id"]) == []


async def test_an_earlier_cursor_replays_the_rest_and_completes(finished: FinishedRuns) -> None:
    for position in (0, 1, len(finished.events) - 2):
        cursor = finished.events[position]["id"]
        rest = await stream(finished.client, finished.run_id, cursor)
        assert rest == finished.events[position + 1 :]


async def test_a_cursor_that_is_no_event_is_invalid_input(finished: FinishedRuns) -> None:
    newest = max(int(event["id"]) for event in finished.events + finished.other_run_events)
    await assert_refused(finished.client, finished.run_id, str(newest + 1000))
    await assert_refused(finished.client, finished.run_id, "999")


async def test_a_cursor_of_another_runs_event_is_invalid_input(finished: FinishedRuns) -> None:
    for event in (finished.other_run_events[0], finished.other_run_events[-1]):
        await assert_refused(finished.client, finished.run_id, event["id"])


async def test_a_malformed_cursor_is_invalid_input(finished: FinishedRuns) -> None:
    # "²" and "٣" pass `str.isdigit`: int() refuses the first and reads the second as 3.
    for after in ("abc", "-1", "1.5", " 1", "0x1", "²", "٣", "99999999999999999999999999"):
        await assert_refused(finished.client, finished.run_id, after)


async def test_no_cursor_replays_the_whole_run(finished: FinishedRuns) -> None:
    # "0" is the position before a run's first event, as in `run { events(after:) }`.
    for after in (None, "", "0"):
        assert await stream(finished.client, finished.run_id, after) == finished.events
