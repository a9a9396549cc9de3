"""Limits an operator relies on: query bombs refused, page sizes capped, errors masked,
introspection and GraphiQL off in production, DataLoaders batching nested fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.config import Environment, Settings
from app.db import session_scope
from app.models.user import Role
from app.services import auth as auth_service
from app.services import catalog_cache
from app.services import runs as run_service
from tests import factories
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


@pytest.fixture
async def viewer(server: str, embedded_settings: Settings) -> GraphQLClient:
    return GraphQLClient(server, (await factories.make_user(embedded_settings, Role.VIEWER))[1])


def first_error(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["message"])


async def test_a_deep_query_is_refused(viewer: GraphQLClient) -> None:
    nested = "pipeline { lastRun { " * 8 + "id" + " } }" * 8
    body = await viewer.post(f"{{ runs {{ nodes {{ {nested} }} }} }}")
    assert "exceeds maximum operation depth" in first_error(body)
    assert body.get("data") is None


async def test_an_alias_bomb_is_refused(viewer: GraphQLClient) -> None:
    aliases = " ".join(f"a{i}: me {{ email }}" for i in range(50))
    body = await viewer.post(f"{{ {aliases} }}")
    assert "aliases found" in first_error(body)


async def test_a_token_bomb_is_refused(viewer: GraphQLClient) -> None:
    fields = " ".join(["email"] * 3000)
    body = await viewer.post(f"{{ me {{ {fields} }} }}")
    assert "more than 2000 tokens" in first_error(body)


async def test_page_sizes_are_capped(viewer: GraphQLClient) -> None:
    body = await viewer.post("{ runs(first: 500) { nodes { id } } }")
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "first must be between 1 and 200" in first_error(body)
    bad_cursor = await viewer.post('{ runs(after: "garbage") { nodes { id } } }')
    assert bad_cursor["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_unexpected_errors_are_masked_with_the_request_id(
    server: str, embedded_settings: Settings
) -> None:
    admin, token = await factories.make_user(embedded_settings, Role.ADMIN)
    # A real fault, not a mock: the table behind the field is gone.
    async with session_scope(embedded_settings) as session:
        from sqlalchemy import text

        await session.exec(text("DROP TABLE api_keys"))  # type: ignore[call-overload]
    async with httpx.AsyncClient(base_url=server) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": "query($u: ID!) { apiKeys(userId: $u) { id } }",
                "variables": {"u": admin.id},
            },
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-12345"},
        )
    error = response.json()["errors"][0]
    assert response.headers["x-request-id"] == "req-12345"
    assert error["message"] == "internal error (request id req-12345)"
    assert error["extensions"] == {"code": "INTERNAL_ERROR", "requestId": "req-12345"}
    assert "api_keys" not in response.text


def test_production_turns_off_introspection_and_graphiql(tmp_path: Path) -> None:
    settings = Settings(
        env=Environment.PROD,
        data_dir=tmp_path,
        secret_key="p" * 40,
        database_url=None,
        redis_url=None,
    )
    from app import migrate

    migrate.upgrade(settings.metadata_url)
    with live_server(settings) as url:
        page = httpx.get(f"{url}/graphql", headers={"Accept": "text/html"})
        body = httpx.post(f"{url}/graphql", json={"query": "{ __schema { types { name } } }"})
    assert page.status_code == 404
    assert "introspection" in body.json()["errors"][0]["message"].lower()


async def test_dev_serves_graphiql(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


async def test_nested_fields_cost_one_query_per_level(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    """runs → pipeline → source: the statement count does not grow with the page."""
    source = await factories.make_source(
        embedded_settings, factories.write_csv(tmp_path, factories.orders_rows(1))
    )
    pipelines = [
        await factories.make_pipeline(embedded_settings, source, factories.orders_spec(f"n{i}"))
        for i in range(4)
    ]
    async with session_scope(embedded_settings) as session:
        for index in range(40):
            await run_service.trigger(
                session=session, pipeline_id=pipelines[index % 4].id, actor=None
            )
    _, token = await factories.make_user(embedded_settings, Role.VIEWER)
    client = GraphQLClient(server, token)
    query = (
        "query($n: Int) { runs(first: $n) { nodes { id "
        "pipeline { name source { name } lastRun { id } } } } }"
    )

    async def statements_for(page: int) -> int:
        # Both pages read the caller, pipelines and sources from the database.
        catalog_cache.clear()
        auth_service.forget_callers()
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(str(args[2]))

        event.listen(Engine, "before_cursor_execute", count)
        try:
            data = await client.data(query, {"n": page})
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        assert len(data["runs"]["nodes"]) == page
        return len(seen)

    assert await statements_for(4) == await statements_for(40)


async def test_a_runs_page_reads_definitions_once_and_shows_edits_at_once(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    """Pipelines and sources come from the process's cache until one is edited."""
    source = await factories.make_source(
        embedded_settings, factories.write_csv(tmp_path, factories.orders_rows(1))
    )
    pipeline = await factories.make_pipeline(embedded_settings, source, factories.orders_spec("c"))
    async with session_scope(embedded_settings) as session:
        await run_service.trigger(session=session, pipeline_id=pipeline.id, actor=None)
    _, viewer = await factories.make_user(embedded_settings, Role.VIEWER)
    _, operator = await factories.make_user(embedded_settings, Role.OPERATOR)
    query = (
        "query($p: ID!) { runs(first: 5, filter: {pipelineId: $p}) "
        "{ nodes { pipeline { name source { name } } } } }"
    )

    async def page() -> tuple[list[str], str]:
        seen: list[str] = []

        def note(*args: Any) -> None:
            seen.append(str(args[2]).lower())

        event.listen(Engine, "before_cursor_execute", note)
        try:
            data = await GraphQLClient(server, viewer).data(query, {"p": pipeline.id})
        finally:
            event.remove(Engine, "before_cursor_execute", note)
        return seen, data["runs"]["nodes"][0]["pipeline"]["source"]["name"]

    catalog_cache.clear()
    first, _ = await page()
    repeat, shown = await page()
    renamed = await GraphQLClient(server, operator).data(
        "mutation($id: ID!, $n: String!) { updateSource(input: {id: $id, name: $n}) "
        "{ source { name } errors { code } } }",
        {"id": source.id, "n": f"{source.name}_renamed"},
    )
    after_edit, shown_after = await page()

    def reads_catalog(statements: list[str]) -> bool:
        return any("from pipelines" in s or "from sources" in s for s in statements)

    assert reads_catalog(first)
    assert not reads_catalog(repeat)
    assert shown == source.name
    assert renamed["updateSource"]["errors"] == []
    assert shown_after == f"{source.name}_renamed"
    assert reads_catalog(after_edit)


async def test_row_counts_past_32_bits_come_back_exact(
    viewer: GraphQLClient, embedded_settings: Settings, tmp_path: Path
) -> None:
    """GraphQL's Int stops at 2^31 - 1; a run of billions of rows must still show."""
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(1))
    source = await factories.make_source(embedded_settings, csv_path)
    pipeline = await factories.make_pipeline(
        embedded_settings, source, factories.orders_spec("big")
    )
    counts = {"rows_read": 5_000_000_007, "rows_written": 4_000_000_003, "rows_filtered": 2**40}
    async with session_scope(embedded_settings) as session:
        triggered = await run_service.trigger(session=session, pipeline_id=pipeline.id, actor=None)
        for name, value in counts.items():
            setattr(triggered.run, name, value)
        session.add(triggered.run)
    fields = "id rowsRead rowsWritten rowsFiltered rowsRejected"
    page = await viewer.data(f"{{ runs(first: 5) {{ nodes {{ {fields} }} }} }}")
    one = await viewer.data(
        f"query($id: ID!) {{ run(id: $id) {{ {fields} }} }}", {"id": triggered.run.id}
    )
    expected = {
        "id": triggered.run.id,
        "rowsRead": 5_000_000_007,
        "rowsWritten": 4_000_000_003,
        "rowsFiltered": 2**40,
        "rowsRejected": 0,
    }
    assert expected in page["runs"]["nodes"]
    assert one["run"] == expected
