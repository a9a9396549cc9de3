"""Oversized and hostile requests through the real app over HTTP: every case is a typed
error naming what was wrong and where, never INTERNAL_ERROR or an HTTP 500.

One line per case: specs (createPipeline), source URIs (createSource), raw GraphQL
request bodies, sources that answer with JSON nested too deep (previewSource), analytics
inputs, and list arguments on PostgreSQL. Add a case by adding a line to its list.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import websockets

from app.models.user import Role
from tests import factories
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_analytics_server, live_server
from tests.unit.analytics.helpers import load_orders, make_pipeline_id, orders
from tests.unit.etl.sources.http_api import Api, Ask

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from app.config import Settings

DEEP = 100_000
"""Nesting the issue's corpus used: a recursive JSON decoder overflows long before."""


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


@pytest.fixture
async def operator(server: str, embedded_settings: Settings) -> GraphQLClient:
    _, token = await factories.make_user(embedded_settings, Role.OPERATOR)
    return GraphQLClient(server, token)


def assert_typed(errors: list[dict[str, Any]], code: str, path: list[str], words: str) -> None:
    assert errors, "the request was accepted"
    first = errors[0]
    assert (first["code"], first["path"][: len(path)]) == (code, path), first
    assert words in first["message"], first


# --- specs (createPipeline over a CSV with order_id, status, quantity, unit_price) --------

_LONG_FILTER = " OR ".join(["quantity > 1"] * 800)  # 10,399 characters, over 10,000
_MANY_TERMS = " + ".join(["quantity"] * 251)  # 501 tokens, over 500


def _deep_value(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _spec(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"steps": list(steps), "destination": {"table": "corpus_out"}}


SPECS = [
    pytest.param(
        _spec(*[{"filter": "quantity > 0"}] * 201),
        "SPEC_TOO_LARGE",
        ["steps"],
        "201 steps; a spec may have at most 200",
        id="201-steps",
    ),
    pytest.param(
        _spec({"filter": _LONG_FILTER}),
        "SPEC_TOO_LARGE",
        ["steps", "0", "filter"],
        "at most 10,000",
        id="expression-over-10000-characters",
    ),
    pytest.param(
        _spec({"fill_null": {"status": _deep_value(30)}}),
        "SPEC_TOO_LARGE",
        ["steps", "0", "fill_null", "status"],
        "nested deeper than 16",
        id="spec-nested-30-deep",
    ),
    pytest.param(
        _spec({"derive": {"total": _MANY_TERMS}}),
        "EXPRESSION_INVALID",
        ["steps", "0", "derive", "total"],
        "501 terms; at most 500",
        id="expression-of-501-terms",
    ),
    pytest.param(
        _spec({"filter": "quantity > 0"}, {"limit": 10**30}),
        "SPEC_INVALID",
        ["steps", "1", "limit"],
        "less than or equal to 4294967295",
        id="limit-10e30",
    ),
    pytest.param(
        _spec({"limit": 2**40}),
        "SPEC_INVALID",
        ["steps", "0", "limit"],
        "less than or equal to 4294967295",
        id="limit-2e40",
    ),
    pytest.param(
        _spec({"limit": -1}),
        "SPEC_INVALID",
        ["steps", "0", "limit"],
        "greater than or equal to 0",
        id="limit-negative",
    ),
    pytest.param(
        _spec({"fill_null": {"quantity": 10**30}}),
        "EXPRESSION_INVALID",
        ["steps", "0", "fill_null", "quantity"],
        "cannot fill column `quantity`",
        id="fill-null-10e30",
    ),
]


@pytest.mark.parametrize(("spec", "code", "path", "words"), SPECS)
async def test_a_spec_past_a_limit_is_a_typed_error_naming_the_place(
    operator: GraphQLClient,
    tmp_path: Path,
    spec: dict[str, Any],
    code: str,
    path: list[str],
    words: str,
) -> None:
    errors = await flows.create_pipeline_errors(operator, tmp_path, spec)
    assert_typed(errors, code, path, words)


# --- source URIs (createSource) ------------------------------------------------------------

URIS = [
    pytest.param("csv", "{root}/orders\x00.csv", {}, "U+0000 at position", id="nul-in-a-path"),
    pytest.param("http", "http://api.example.com/a\x00b", {}, "U+0000", id="nul-in-a-url"),
    pytest.param("http", "http://api.example.com/\r\nX-Evil: 1", {}, "U+000D", id="crlf-in-a-url"),
    pytest.param("http", "http://0177.0.0.1/orders", {}, "(it means 127.0.0.1)", id="octal-host"),
    pytest.param("http", "http://0x7f.0.0.1/orders", {}, "(it means 127.0.0.1)", id="hex-host"),
    pytest.param("http", "http://2130706433/orders", {}, "(it means 127.0.0.1)", id="int-host"),
    pytest.param("http", "http://127.1/orders", {}, "(it means 127.0.0.1)", id="short-host"),
    pytest.param("http", "http://010.0.0.1/orders", {}, "(it means 8.0.0.1)", id="octal-public"),
    pytest.param("http", "http://exa mple.com/", {}, "which no host name has", id="space-host"),
    pytest.param(
        "sql",
        "postgresql://0177.0.0.1/db",
        {"query": "select 1"},
        "legacy numeric form",
        id="octal-sql-host",
    ),
]


@pytest.mark.parametrize(("kind", "uri", "options", "words"), URIS)
async def test_a_bad_uri_is_refused_when_the_source_is_created(
    operator: GraphQLClient,
    tmp_path: Path,
    kind: str,
    uri: str,
    options: dict[str, Any],
    words: str,
) -> None:
    data = await operator.data(
        ops.CREATE_SOURCE,
        {
            "input": {
                "name": factories.unique("s"),
                "kind": kind,
                "uri": uri.format(root=tmp_path),
                "options": options,
            }
        },
    )
    assert data["createSource"]["source"] is None
    assert_typed(data["createSource"]["errors"], "SOURCE_INVALID", ["uri"], words)


PREVIEW_PIPELINE = """mutation($source: ID!, $spec: JSON!) {
  previewPipeline(input: {sourceId: $source, spec: $spec, limit: 3}) {
    preview { rows } errors { code message path }
  }
}"""


async def test_a_preview_of_a_spec_past_the_step_cap_is_refused(
    operator: GraphQLClient, tmp_path: Path
) -> None:
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(3))
    created = await operator.data(
        ops.CREATE_SOURCE,
        {"input": {"name": factories.unique("s"), "kind": "csv", "uri": str(csv_path)}},
    )
    spec = _spec(*[{"filter": "quantity > 0"}] * 3000)
    data = await operator.data(
        PREVIEW_PIPELINE, {"source": created["createSource"]["source"]["id"], "spec": spec}
    )
    assert_typed(data["previewPipeline"]["errors"], "SPEC_TOO_LARGE", ["steps"], "3000 steps")


# --- GraphQL requests (raw bodies, as a client could send them) --------------------------

_ME = '"query": "{ me { email } }"'

BODIES = [
    pytest.param("{" + _ME + ', "variables": {"a": ' + nested(DEEP) + "}}", id="variables-deep"),
    pytest.param("{" + _ME + ', "extensions": ' + nested(DEEP) + "}", id="extensions-deep"),
    pytest.param("{" + _ME + ', "variables": {"a": ' + nested(65) + "}}", id="variables-65-deep"),
    pytest.param("[" * DEEP, id="unclosed-deep"),
    pytest.param('{"query": ' + '{"a": ' * 10_000 + "1" + "}" * 10_000 + "}", id="objects-deep"),
]


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_a_request_nested_too_deep_is_a_typed_error(
    server: str, operator: GraphQLClient, body: str, accept: str
) -> None:
    headers = {
        "Authorization": f"Bearer {operator.token}",
        "Content-Type": "application/json",
        "Accept": accept,
    }
    async with httpx.AsyncClient(base_url=server, timeout=60) as client:
        response = await client.post("/graphql", content=body, headers=headers)
        health = await client.get("/healthz")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(accept)
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "nested deeper than 64 levels" in error["message"]
    assert health.status_code == 200


async def test_a_websocket_message_nested_too_deep_closes_as_not_json(
    server: str, operator: GraphQLClient
) -> None:
    url = server.replace("http://", "ws://") + "/graphql"
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {operator.token}"}}
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = '{"query": "{ me { email } }", "variables": {"a": ' + nested(DEEP) + "}}"
        await ws.send('{"id": "1", "type": "subscribe", "payload": ' + payload + "}")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 60)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400


async def test_get_variables_nested_too_deep_are_a_typed_error(
    server: str, operator: GraphQLClient
) -> None:
    # A URL holds at most 64 KiB: 5,000 levels are as deadly to a recursive decoder.
    params = {"query": "{ me { email } }", "variables": '{"a": ' + nested(5_000) + "}"}
    async with httpx.AsyncClient(base_url=server, timeout=60) as client:
        response = await client.get(
            "/graphql", params=params, headers={"Authorization": f"Bearer {operator.token}"}
        )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_variables_at_the_depth_limit_are_accepted(
    server: str, operator: GraphQLClient
) -> None:
    # The body, `variables` and `a` are three levels: 61 more make 64.
    body = "{" + _ME + ', "variables": {"a": ' + nested(62) + "}}"
    async with httpx.AsyncClient(base_url=server, timeout=60) as client:
        response = await client.post(
            "/graphql",
            content=body,
            headers={
                "Authorization": f"Bearer {operator.token}",
                "Content-Type": "application/json",
            },
        )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json()


# --- sources that answer with JSON nested too deep (previewSource) -----------------------

PREVIEW_SOURCE = """mutation($id: ID!) {
  previewSource(id: $id, limit: 2) { preview { rows } errors { code message path } }
}"""

_DEEP_RECORD = '{"id": 1, "tags": ' + nested(DEEP) + "}"


class DeepApi(Api):
    """The scripted JSON API, plus a route that answers records nested 100,000 deep."""

    def route_deep(self, ask: Ask) -> None:
        self.send(ask.request, 200, f"[{_DEEP_RECORD}]".encode())


@pytest.fixture
def deep_api() -> Iterator[DeepApi]:
    api = DeepApi()
    yield api
    api.close()


@pytest.fixture
def private_server(embedded_settings: Settings) -> Iterator[str]:
    """The app allowed to reach this machine, where the test API listens."""
    settings = embedded_settings.model_copy(update={"allow_private_networks": True})
    with live_server(settings) as url:
        yield url


FILES = [
    pytest.param("ndjson", '{"id": 0}\n' + _DEEP_RECORD + "\n", "line 2: JSON nested", id="ndjson"),
    pytest.param("json", f"[{_DEEP_RECORD}]", "nested deeper than 64", id="json-array"),
]


@pytest.mark.parametrize(("kind", "content", "words"), FILES)
async def test_a_file_nested_too_deep_is_malformed_with_its_place(
    private_server: str,
    embedded_settings: Settings,
    tmp_path: Path,
    kind: str,
    content: str,
    words: str,
) -> None:
    path = tmp_path / f"deep.{kind}"
    path.write_text(content)
    await _assert_preview_malformed(private_server, embedded_settings, kind, str(path), words)


async def test_an_http_source_answering_too_deep_is_malformed(
    private_server: str, embedded_settings: Settings, deep_api: DeepApi
) -> None:
    uri = f"{deep_api.url}/deep"
    await _assert_preview_malformed(private_server, embedded_settings, "http", uri, "nested")


async def _assert_preview_malformed(
    url: str, settings: Settings, kind: str, uri: str, words: str
) -> None:
    _, token = await factories.make_user(settings, Role.OPERATOR)
    client = GraphQLClient(url, token)
    created = await client.data(
        ops.CREATE_SOURCE,
        {"input": {"name": factories.unique("s"), "kind": kind, "uri": uri}},
    )
    assert created["createSource"]["errors"] == []
    source_id = created["createSource"]["source"]["id"]
    data = await client.data(PREVIEW_SOURCE, {"id": source_id})
    (error,) = data["previewSource"]["errors"]
    assert error["code"] == "SOURCE_MALFORMED", error
    assert words in error["message"], error


# --- analytics inputs (a loaded `orders` dataset) -----------------------------------------

ANALYTICS = "query($q: AnalyticsQueryInput!) { analytics(query: $q) { rowCount } }"


def _bounded(timezone: str, **bounds: str) -> dict[str, Any]:
    time = {"member": "order_ts", "granularity": "MONTH", **bounds}
    return {
        "dataset": "orders",
        "measures": ["revenue"],
        "timeDimension": time,
        "timezone": timezone,
    }


def _filtered(timezone: str, operator: str, value: Any) -> dict[str, Any]:
    condition = {"member": "order_ts", "operator": operator, "values": [value]}
    return {
        "dataset": "orders",
        "measures": ["revenue"],
        "filters": [condition],
        "timezone": timezone,
    }


ANALYTICS_INPUTS = [
    pytest.param(
        _bounded("Asia/Tokyo", **{"from": "0001-01-01T00:00:00"}),
        "QUERY_INVALID",
        "timeDimension.from: 0001-01-01T00:00:00 is outside the supported range",
        id="from-year-1-in-tokyo",
    ),
    pytest.param(
        _bounded("America/Los_Angeles", to="9999-12-31T23:59:59"),
        "QUERY_INVALID",
        "timeDimension.to: 9999-12-31T23:59:59 is outside",
        id="to-year-9999-in-los-angeles",
    ),
    pytest.param(
        _filtered("Asia/Tokyo", "LT", "0001-01-01"),
        "QUERY_INVALID",
        "filter lt on `order_ts`: 0001-01-01T00:00:00 is outside",
        id="filter-year-1-in-tokyo",
    ),
    pytest.param(
        _filtered("UTC", "GT", "last tuesday"),
        "QUERY_INVALID",
        "'last tuesday' is not an ISO date or date-time",
        id="filter-not-a-time",
    ),
    pytest.param(
        _bounded("UTC", **{"from": "yesterday"}),
        "BAD_USER_INPUT",
        "timeDimension.from",
        id="from-not-a-timestamp",
    ),
    pytest.param(
        _bounded("UTC", **{"from": "99999-01-01T00:00:00"}),
        "BAD_USER_INPUT",
        "timeDimension.from",
        id="from-year-99999",
    ),
    pytest.param(
        {"dataset": "orders", "measures": ["revenue"], "limit": 2**40},
        "BAD_USER_INPUT",
        ".limit",
        id="limit-2e40",
    ),
    pytest.param(
        {"dataset": "orders", "measures": ["revenue"], "limit": 1_000_000},
        "QUERY_INVALID",
        "limit must be between 1 and 50,000",
        id="limit-1e6",
    ),
]


@pytest.fixture
async def analytics_server(embedded_settings: Settings) -> AsyncIterator[str]:
    async with live_analytics_server(embedded_settings) as url:
        yield url


@pytest.mark.parametrize(("query", "code", "words"), ANALYTICS_INPUTS)
async def test_a_bad_analytics_input_is_a_typed_error_naming_the_field(
    analytics_server: str,
    embedded_settings: Settings,
    tmp_path: Path,
    query: dict[str, Any],
    code: str,
    words: str,
) -> None:
    pipeline_id = await make_pipeline_id(embedded_settings, tmp_path)
    await load_orders(embedded_settings, pipeline_id, orders(200), "replace")
    _, token = await factories.make_user(embedded_settings, Role.VIEWER)
    body = await GraphQLClient(analytics_server, token).post(ANALYTICS, {"q": query})
    (error,) = body["errors"]
    assert (error["extensions"]["code"], body.get("data")) == (code, None), error
    assert words in error["message"], error


# --- list arguments (PostgreSQL: at most 32,767 bound parameters a statement) ---------------

RUNS = "query($s: [RunStatus!]) { runs(filter: {statuses: $s}) { nodes { id } } }"

STATUS_LISTS = [
    pytest.param(["QUEUED"] * 200_000, "200,000 values; at most 100", id="200000-queued"),
    pytest.param(["QUEUED", "RUNNING"] * 51, "102 values; at most 100", id="102-values"),
]


@pytest.fixture
def pg_server(service_settings: Settings) -> Iterator[str]:
    with live_server(service_settings) as url:
        yield url


@pytest.mark.parametrize(("statuses", "words"), STATUS_LISTS)
async def test_a_list_argument_past_its_bound_is_a_typed_error(
    pg_server: str, service_settings: Settings, statuses: list[str], words: str
) -> None:
    _, token = await factories.make_user(service_settings, Role.VIEWER)
    body = await GraphQLClient(pg_server, token).post(RUNS, {"s": statuses})
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT", error
    assert error["message"].startswith("filter.statuses: "), error
    assert words in error["message"], error


async def test_repeated_statuses_are_one_filter(pg_server: str, service_settings: Settings) -> None:
    _, token = await factories.make_user(service_settings, Role.VIEWER)
    client = GraphQLClient(pg_server, token)
    body = await client.post(RUNS, {"s": ["QUEUED"] * 100})
    # The session's database is shared with other tests: the same answer as one status.
    assert "errors" not in body
    assert body == await client.post(RUNS, {"s": ["QUEUED"]})
