"""The role matrix: every mutation by anonymous, viewer, operator, admin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from graphql import build_schema

from app.models.user import Role
from scripts.export_schema import current_sdl
from tests import factories
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator

    from app.config import Settings

MISSING = "00000000-0000-0000-0000-000000000000"

# mutation -> (document, variables, the least role allowed; None = anyone)
MUTATIONS: dict[str, tuple[str, dict[str, Any], Role | None]] = {
    "login": (
        'mutation($e: String!) { login(email: $e, password: "x") { token } }',
        {"e": "nobody@example.com"},
        None,
    ),
    "createUser": (
        'mutation($e: String!) { createUser(input: {email: $e, password: "long-password"})'
        " { user { id } errors { code } } }",
        {"e": "new@example.com"},
        Role.ADMIN,
    ),
    "setUserRole": (
        "mutation($id: ID!) { setUserRole(userId: $id, role: VIEWER) { errors { code } } }",
        {"id": MISSING},
        Role.ADMIN,
    ),
    "setUserActive": (
        "mutation($id: ID!) { setUserActive(userId: $id, active: false) { errors { code } } }",
        {"id": MISSING},
        Role.ADMIN,
    ),
    "createApiKey": (
        'mutation { createApiKey(input: {name: "ci"}) { secret errors { code } } }',
        {},
        Role.ADMIN,
    ),
    "revokeApiKey": (
        "mutation($id: ID!) { revokeApiKey(id: $id) { errors { code } } }",
        {"id": MISSING},
        Role.ADMIN,
    ),
    "setUserAnalyticsScope": (
        "mutation($id: ID!) { setUserAnalyticsScope(userId: $id, scope: null)"
        " { errors { code } } }",
        {"id": MISSING},
        Role.ADMIN,
    ),
    "setApiKeyAnalyticsScope": (
        "mutation($id: ID!) { setApiKeyAnalyticsScope(id: $id, scope: null) { errors { code } } }",
        {"id": MISSING},
        Role.ADMIN,
    ),
    "createSource": (
        'mutation { createSource(input: {name: "s", kind: "csv", uri: "/nope.csv"})'
        " { errors { code } } }",
        {},
        Role.OPERATOR,
    ),
    "updateSource": (
        "mutation($id: ID!) { updateSource(input: {id: $id}) { errors { code } } }",
        {"id": MISSING},
        Role.OPERATOR,
    ),
    "deleteSource": (
        "mutation($id: ID!) { deleteSource(id: $id) { errors { code } } }",
        {"id": MISSING},
        Role.OPERATOR,
    ),
    "previewSource": (
        "mutation($id: ID!) { previewSource(id: $id) { errors { code } } }",
        {"id": MISSING},
        Role.OPERATOR,
    ),
    "createPipeline": (
        'mutation($id: ID!) { createPipeline(input: {name: "p", sourceId: $id, spec: {}})'
        " { errors { code } } }",
        {"id": MISSING},
        Role.OPERATOR,
    ),
    "updatePipeline": (
        "mutation($id: ID!) { updatePipeline(input: {id: $id}) { errors { code } } }",
        {"id": MISSING},
        Role.OPERATOR,
    ),
    "deletePipeline": (
        "mutation($id: ID!) { deletePipeline(id: $id) { errors { code } } }",
        {"id": MISSING},
        Role.OPERATOR,
    ),
    "previewPipeline": (
        "mutation($id: ID!) { previewPipeline(input: {sourceId: $id, spec: {}})"
        " { errors { code } } }",
        {"id": MISSING},
        Role.OPERATOR,
    ),
    "triggerRun": (
        "mutation($id: ID!) { triggerRun(pipelineId: $id) { errors { code } } }",
        {"id": MISSING},
        Role.OPERATOR,
    ),
    "cancelRun": (
        "mutation($id: ID!) { cancelRun(runId: $id) { errors { code } } }",
        {"id": MISSING},
        Role.OPERATOR,
    ),
    "backfill": (
        'mutation($id: ID!) { backfill(input: {pipelineId: $id, from: "2026-01-01T00:00:00Z",'
        ' to: "2026-01-03T00:00:00Z"}) { errors { code } } }',
        {"id": MISSING},
        Role.OPERATOR,
    ),
    "cancelBackfill": (
        "mutation($id: ID!) { cancelBackfill(id: $id) { errors { code } } }",
        {"id": MISSING},
        Role.OPERATOR,
    ),
    "retryRun": (
        "mutation($id: ID!) { retryRun(runId: $id) { errors { code } } }",
        {"id": MISSING},
        Role.OPERATOR,
    ),
}

CALLERS: list[Role | None] = [None, Role.VIEWER, Role.OPERATOR, Role.ADMIN]


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


def expected(caller: Role | None, least: Role | None) -> str:
    if least is None:
        return "allow"
    if caller is None:
        return "UNAUTHENTICATED"
    return "allow" if caller.allows(least) else "FORBIDDEN"


def outcome(body: dict[str, Any]) -> str:
    codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
    denial: set[str] = codes & {"UNAUTHENTICATED", "FORBIDDEN"}
    if denial:
        return denial.pop()
    assert "errors" not in body, body  # anything else would be a bug, not a denial
    return "allow"


def test_every_mutation_is_in_the_matrix() -> None:
    mutation_type = build_schema(current_sdl()).mutation_type
    assert mutation_type is not None
    assert set(mutation_type.fields) == set(MUTATIONS)


async def test_role_matrix(server: str, embedded_settings: Settings) -> None:
    tokens: dict[Role | None, str | None] = {None: None}
    for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN):
        tokens[role] = (await factories.make_user(embedded_settings, role))[1]
    found: dict[tuple[str, str], str] = {}
    wanted: dict[tuple[str, str], str] = {}
    for name, (document, variables, least) in MUTATIONS.items():
        for caller in CALLERS:
            key = (name, caller.value if caller else "anonymous")
            body = await GraphQLClient(server, tokens[caller]).post(document, variables)
            found[key] = outcome(body)
            wanted[key] = expected(caller, least)
    mismatches = {key: (found[key], wanted[key]) for key in wanted if found[key] != wanted[key]}
    assert mismatches == {}
