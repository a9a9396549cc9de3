"""Bounded work per request: a spec's size is capped, and checking a large one (allowed)
runs beside other requests instead of freezing the server."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from app.etl.spec_limits import SpecLimits
from app.models.user import Role
from tests import factories
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.config import Settings

CAP = SpecLimits().max_steps
# Checking this spec takes seconds of CPU on any machine: 200 steps, each a filter of
# 100 terms (planning time grows with the square of an expression's terms).
HEAVY_FILTER = " + ".join(["quantity"] * 100) + " > 0"


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


@pytest.fixture
async def operator(server: str, embedded_settings: Settings) -> GraphQLClient:
    _, token = await factories.make_user(embedded_settings, Role.OPERATOR)
    return GraphQLClient(server, token)


async def make_source(client: GraphQLClient, tmp_path: Path) -> str:
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(3))
    source = await client.data(
        ops.CREATE_SOURCE,
        {"input": {"name": factories.unique("s"), "kind": "csv", "uri": str(csv_path)}},
    )
    source_id: str = source["createSource"]["source"]["id"]
    return source_id


async def create_pipeline(
    client: GraphQLClient, source_id: str, steps: list[dict[str, Any]]
) -> dict[str, Any]:
    spec = {"steps": steps, "destination": {"table": factories.unique("t")}}
    data = await client.data(
        ops.CREATE_PIPELINE,
        {"input": {"name": factories.unique("p"), "sourceId": source_id, "spec": spec}},
    )
    payload: dict[str, Any] = data["createPipeline"]
    return payload


async def test_a_spec_at_the_step_cap_is_created_and_one_step_more_is_refused(
    operator: GraphQLClient, tmp_path: Path
) -> None:
    source_id = await make_source(operator, tmp_path)
    at_cap = await create_pipeline(operator, source_id, [{"filter": "quantity > 0"}] * CAP)
    assert at_cap["errors"] == []
    assert at_cap["pipeline"]["version"] == 1

    over = await create_pipeline(operator, source_id, [{"filter": "quantity > 0"}] * (CAP + 1))
    assert over["pipeline"] is None
    (error,) = over["errors"]
    assert (error["code"], error["path"]) == ("SPEC_TOO_LARGE", ["steps"])
    assert error["message"] == f"steps: {CAP + 1} steps; a spec may have at most {CAP} " + (
        "(SPEC_MAX_STEPS)"
    )


async def test_healthz_answers_while_a_large_spec_is_checked(
    server: str, operator: GraphQLClient, tmp_path: Path
) -> None:
    """The check runs in a worker thread: the event loop answers /healthz meanwhile.

    Before, the check ran on the event loop and /healthz waited for it to end."""
    source_id = await make_source(operator, tmp_path)
    creating = asyncio.create_task(
        create_pipeline(operator, source_id, [{"filter": HEAVY_FILTER}] * CAP)
    )
    answered_while_checking = 0
    async with httpx.AsyncClient(base_url=server, timeout=300) as client:
        while not creating.done() and answered_while_checking < 20:
            response = await client.get("/healthz")
            assert response.status_code == 200
            if not creating.done():
                answered_while_checking += 1
            await asyncio.sleep(0.01)
    payload = await asyncio.wait_for(creating, timeout=300)
    assert payload["errors"] == []
    assert answered_while_checking == 20


UPDATE_PIPELINE = """mutation($input: UpdatePipelineInput!) {
  updatePipeline(input: $input) { pipeline { version } errors { code message path } }
}"""


async def test_an_update_past_a_cap_is_refused_and_keeps_the_version(
    operator: GraphQLClient, tmp_path: Path
) -> None:
    source_id = await make_source(operator, tmp_path)
    created = await create_pipeline(operator, source_id, [{"filter": "quantity > 0"}])
    pipeline_id = created["pipeline"]["id"]
    long_filter = "quantity > 0 AND " * 600 + "quantity > 0"
    spec = {"steps": [{"filter": long_filter}], "destination": {"table": "t"}}
    data = await operator.data(UPDATE_PIPELINE, {"input": {"id": pipeline_id, "spec": spec}})
    (error,) = data["updatePipeline"]["errors"]
    assert (error["code"], error["path"]) == ("SPEC_TOO_LARGE", ["steps", "0", "filter"])
    assert "10,212 characters; at most 10,000" in error["message"]
    versions = await operator.data(
        "query($id: ID!) { pipeline(id: $id) { version } }", {"id": pipeline_id}
    )
    assert versions["pipeline"]["version"] == 1
