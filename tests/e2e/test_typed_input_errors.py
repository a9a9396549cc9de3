"""A value that does not fit its argument or variable is a BAD_USER_INPUT error naming
the argument (or variable) and, for an enum, the values it allows; never INTERNAL_ERROR.
Through the real app over HTTP, as an inline literal and as a variable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from app.models.user import Role
from tests import factories
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator

    from app.config import Settings

ROLES = ["VIEWER", "OPERATOR", "ADMIN"]
STATUSES = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED"]
USER_FIELDS = "{ user { id } errors { code message } }"


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


@pytest.fixture
async def admin(server: str, embedded_settings: Settings) -> GraphQLClient:
    _, token = await factories.make_user(embedded_settings, Role.ADMIN)
    return GraphQLClient(server, token)


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("data") is None, body
    assert len(body["errors"]) == 1, body["errors"]
    error: dict[str, Any] = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "internal error" not in error["message"]
    return error


async def test_an_unknown_role_literal_names_the_argument_and_the_roles(
    admin: GraphQLClient,
) -> None:
    body = await admin.post(
        'mutation { createUser(input: {email: "a@example.com", password: "long-password-1",'
        f" role: superuser}}) {USER_FIELDS} }}"
    )
    error = only_error(body)
    assert "Argument 'input'" in error["message"]
    assert ".role" in error["message"]
    assert "superuser" in error["message"]
    assert "Allowed values: VIEWER, OPERATOR, ADMIN" in error["message"]
    assert error["extensions"]["argument"] == "input"
    assert error["extensions"]["allowedValues"] == ROLES


async def test_an_unknown_role_variable_names_the_variable_and_the_roles(
    admin: GraphQLClient,
) -> None:
    body = await admin.post(
        f"mutation($input: CreateUserInput!) {{ createUser(input: $input) {USER_FIELDS} }}",
        {"input": {"email": "a@example.com", "password": "long-password-1", "role": "superuser"}},
    )
    error = only_error(body)
    assert "Variable '$input'" in error["message"]
    assert ".role" in error["message"]
    assert "Allowed values: VIEWER, OPERATOR, ADMIN" in error["message"]
    assert error["extensions"]["variable"] == "input"
    assert error["extensions"]["allowedValues"] == ROLES


async def test_an_unknown_run_status_literal_lists_the_statuses(admin: GraphQLClient) -> None:
    body = await admin.post("{ runs(filter: {statuses: [DONE]}) { nodes { id } } }")
    error = only_error(body)
    assert "Argument 'filter'" in error["message"]
    assert ".statuses[0]" in error["message"]
    assert error["extensions"]["allowedValues"] == STATUSES


@pytest.mark.parametrize("status", ["DONE", "done"])
async def test_an_unknown_run_status_variable_lists_the_statuses(
    admin: GraphQLClient, status: str
) -> None:
    body = await admin.post(
        "query($filter: RunFilter) { runs(filter: $filter) { nodes { id } } }",
        {"filter": {"statuses": [status]}},
    )
    error = only_error(body)
    assert "Variable '$filter'" in error["message"]
    assert ".statuses[0]" in error["message"]
    assert f"'{status}'" in error["message"]
    assert ", ".join(STATUSES) in error["message"]


async def test_a_string_for_an_int_variable_names_the_variable(admin: GraphQLClient) -> None:
    body = await admin.post(
        "query($first: Int) { runs(first: $first) { nodes { id } } }", {"first": "abc"}
    )
    error = only_error(body)
    assert "Variable '$first'" in error["message"]
    assert "Int cannot represent" in error["message"]
    assert error["extensions"]["variable"] == "first"


async def test_a_string_for_an_int_argument_names_the_argument(admin: GraphQLClient) -> None:
    error = only_error(await admin.post('{ runs(first: "abc") { nodes { id } } }'))
    assert "Argument 'first'" in error["message"]
    assert error["extensions"]["argument"] == "first"


async def test_a_missing_required_variable_is_bad_user_input(admin: GraphQLClient) -> None:
    error = only_error(await admin.post("query($id: ID!) { run(id: $id) { id } }"))
    assert "Variable '$id'" in error["message"]


async def test_other_request_errors_have_codes(admin: GraphQLClient) -> None:
    unknown_field = await admin.post("{ runz { nodes { id } } }")
    no_parse = await admin.post("{ runs(")
    assert unknown_field["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert no_parse["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_graphql_response_clients_get_400_without_data(server: str) -> None:
    """application/graphql-response+json: a request error is a 400 and has no data;
    application/json clients keep 200 and data: null."""
    request = {
        "query": "query($first: Int) { runs(first: $first) { nodes { id } } }",
        "variables": {"first": "abc"},
    }
    async with httpx.AsyncClient(base_url=server) as client:
        modern = await client.post(
            "/graphql", json=request, headers={"Accept": "application/graphql-response+json"}
        )
        legacy = await client.post("/graphql", json=request, headers={"Accept": "application/json"})
        fine = await client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"Accept": "application/graphql-response+json, application/json;q=0.9"},
        )
    assert modern.status_code == 400
    assert modern.headers["content-type"].startswith("application/graphql-response+json")
    assert "data" not in modern.json()
    assert modern.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == "application/json"
    assert legacy.json()["data"] is None
    assert fine.status_code == 200
    assert fine.headers["content-type"].startswith("application/graphql-response+json")
    assert fine.json() == {"data": {"__typename": "Query"}}
