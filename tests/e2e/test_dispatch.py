"""The API hands runs over only through the `Dispatch` its process gives it (graph.asgi):
a triggered run goes to that enqueue, a broker that refuses leaves the run QUEUED with a
typed, retryable BROKER_UNAVAILABLE (the reaper sends it later), and /readyz asks the
process's probe. The app here is graph's alone: no broker configured, no worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from app.models.user import Role
from graph.asgi import Dispatch, create_app
from tests import factories
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings


class RecordingBroker:
    """What a process's broker is to the API: it takes run ids, or refuses when away."""

    def __init__(self, *, away: bool) -> None:
        self.away = away
        self.sent: list[tuple[str, float]] = []

    async def enqueue(self, run_id: str, delay_seconds: float) -> None:
        if self.away:
            raise ConnectionError("the broker is away")
        self.sent.append((run_id, delay_seconds))

    async def ready(self) -> bool:
        return not self.away

    def dispatch(self) -> Dispatch:
        return Dispatch(enqueue=self.enqueue, broker_ready=self.ready)


async def _operator_and_pipeline(
    url: str, settings: Settings, tmp_path: Path
) -> tuple[GraphQLClient, str]:
    client = GraphQLClient(url, (await factories.make_user(settings, Role.OPERATOR))[1])
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(3))
    spec = factories.orders_spec(factories.unique("dispatched"))
    return client, await flows.define_pipeline(client, csv_path, spec, factories.unique("p"))


async def _readyz(url: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        return await http.get("/readyz")


async def test_a_triggered_run_goes_to_the_enqueue_the_process_gave(
    embedded_settings: Settings, tmp_path: Path
) -> None:
    broker = RecordingBroker(away=False)
    app = create_app(embedded_settings, broker.dispatch())
    with live_server(embedded_settings, app) as url:
        client, pipeline_id = await _operator_and_pipeline(url, embedded_settings, tmp_path)
        run_id = await flows.trigger(client, pipeline_id)
        run = (await client.data(ops.RUN, {"id": run_id}))["run"]
        ready = await _readyz(url)

    assert broker.sent == [(run_id, 0.0)]
    assert run["status"] == "QUEUED"  # no worker here: it stays where the API put it
    assert ready.status_code == 200, ready.text


async def test_a_broker_that_refuses_leaves_the_run_queued_with_a_retryable_error(
    embedded_settings: Settings, tmp_path: Path
) -> None:
    broker = RecordingBroker(away=True)
    app = create_app(embedded_settings, broker.dispatch())
    with live_server(embedded_settings, app) as url:
        client, pipeline_id = await _operator_and_pipeline(url, embedded_settings, tmp_path)
        data = await client.data(ops.TRIGGER_RUN, {"pipelineId": pipeline_id, "key": None})
        runs = await client.data(
            "query($p: ID!) { runs(filter: {pipelineId: $p}) { nodes { status } } }",
            {"p": pipeline_id},
        )
        ready = await _readyz(url)

    (error,) = data["triggerRun"]["errors"]
    assert error["code"] == "BROKER_UNAVAILABLE"
    assert "could not be queued" in error["message"]
    assert runs["runs"]["nodes"] == [{"status": "QUEUED"}]
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"metadata": "ok", "broker": "no worker running"}
