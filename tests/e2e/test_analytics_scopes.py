"""Analytics scopes as an admin sets them through the API: a user's scope and their API
key's narrower one are forced into every query, a change shows on the next request, and
a malformed scope is refused with the entry it names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from app.models.user import Role
from tests import factories
from tests.live import GraphQLClient, live_analytics_server
from tests.unit.analytics.helpers import load_orders, make_pipeline_id, orders

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from app.config import Settings

ORDERS_BY_COUNTRY = """
query {
  analytics(query: {dataset: "orders", measures: ["orders"], dimensions: ["country"]}) {
    rows
  }
}"""
SET_USER_SCOPE = """
mutation($id: ID!, $scope: JSON) {
  setUserAnalyticsScope(userId: $id, scope: $scope) {
    user { analyticsScope } errors { code message path }
  }
}"""
SET_KEY_SCOPE = """
mutation($id: ID!, $scope: JSON) {
  setApiKeyAnalyticsScope(id: $id, scope: $scope) {
    apiKey { analyticsScope } errors { code message path }
  }
}"""
CREATE_KEY = """
mutation($user: ID!, $scope: JSON) {
  createApiKey(input: {name: "dash", userId: $user, analyticsScope: $scope}) {
    apiKey { id analyticsScope } secret errors { code message path }
  }
}"""
ME = "{ me { analyticsScope } }"


@pytest.fixture
async def server(embedded_settings: Settings) -> AsyncIterator[str]:
    async with live_analytics_server(embedded_settings) as url:
        yield url


def counts_by_country(frame: pl.DataFrame, countries: set[str]) -> dict[str, int]:
    counted = frame.filter(pl.col("country").is_in(sorted(countries))).group_by("country").len()
    return dict(counted.rows())


def as_counts(body: dict[str, Any]) -> dict[str, int]:
    return {str(country): int(count) for country, count in body["analytics"]["rows"]}


async def test_scopes_set_through_the_api_limit_what_each_credential_sees(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    frame = orders(5_000, seed=11)
    await load_orders(
        embedded_settings, await make_pipeline_id(embedded_settings, tmp_path), frame, "replace"
    )
    countries = sorted(set(frame["country"]))
    assert len(countries) >= 3
    _, admin_token = await factories.make_user(embedded_settings, Role.ADMIN)
    user, token = await factories.make_user(embedded_settings, Role.VIEWER)
    admin, viewer = GraphQLClient(server, admin_token), GraphQLClient(server, token)
    everything = as_counts(await viewer.data(ORDERS_BY_COUNTRY))
    assert everything == counts_by_country(frame, set(countries))

    two = countries[:2]
    set_user = await admin.data(SET_USER_SCOPE, {"id": user.id, "scope": {"country": two}})
    assert set_user["setUserAnalyticsScope"] == {
        "user": {"analyticsScope": {"country": two}},
        "errors": [],
    }
    assert (await viewer.data(ME))["me"]["analyticsScope"] == {"country": two}
    assert as_counts(await viewer.data(ORDERS_BY_COUNTRY)) == counts_by_country(frame, set(two))

    created = (await admin.data(CREATE_KEY, {"user": user.id, "scope": {"country": two[1]}}))[
        "createApiKey"
    ]
    assert created["errors"] == []
    assert created["apiKey"]["analyticsScope"] == {"country": two[1]}
    key = GraphQLClient(server, created["secret"])
    assert as_counts(await key.data(ORDERS_BY_COUNTRY)) == counts_by_country(frame, {two[1]})

    # The key is narrowed again; its very next request sees the change.
    widened = await admin.data(SET_KEY_SCOPE, {"id": created["apiKey"]["id"], "scope": None})
    assert widened["setApiKeyAnalyticsScope"]["errors"] == []
    assert as_counts(await key.data(ORDERS_BY_COUNTRY)) == counts_by_country(frame, set(two))
    outside = await admin.data(
        SET_KEY_SCOPE, {"id": created["apiKey"]["id"], "scope": {"country": countries[2]}}
    )
    assert outside["setApiKeyAnalyticsScope"]["errors"] == []
    refused = await key.post(ORDERS_BY_COUNTRY)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "no value of `country`" in refused["errors"][0]["message"]

    cleared = await admin.data(SET_USER_SCOPE, {"id": user.id, "scope": None})
    assert cleared["setUserAnalyticsScope"]["user"] == {"analyticsScope": None}
    assert as_counts(await viewer.data(ORDERS_BY_COUNTRY)) == everything


async def test_a_malformed_scope_is_refused_and_changes_nothing(
    server: str, embedded_settings: Settings
) -> None:
    _, admin_token = await factories.make_user(embedded_settings, Role.ADMIN)
    user, _ = await factories.make_user(embedded_settings, Role.VIEWER)
    admin = GraphQLClient(server, admin_token)
    cases = [
        ({"country": []}, ["country"]),
        ({"country": [{"nested": 1}]}, ["country"]),
        (["DE"], []),
    ]
    # Each error names the argument the scope came in, then the entry that is wrong.
    for scope, entry in cases:
        body = await admin.data(SET_USER_SCOPE, {"id": user.id, "scope": scope})
        (error,) = body["setUserAnalyticsScope"]["errors"]
        assert (error["code"], error["path"]) == ("INVALID_INPUT", ["scope", *entry]), scope
        body = await admin.data(CREATE_KEY, {"user": user.id, "scope": scope})
        (error,) = body["createApiKey"]["errors"]
        assert body["createApiKey"]["apiKey"] is None
        assert (error["code"], error["path"]) == ("INVALID_INPUT", ["analyticsScope", *entry])
    keys = await admin.data("query($id: ID!) { apiKeys(userId: $id) { name } }", {"id": user.id})
    assert keys["apiKeys"] == [], "a refused key must not be created"
    missing = await admin.data(SET_USER_SCOPE, {"id": "no-such-user", "scope": None})
    assert missing["setUserAnalyticsScope"]["errors"][0]["code"] == "NOT_FOUND"
    viewer_token = (await factories.make_user(embedded_settings, Role.VIEWER))[1]
    denied = await GraphQLClient(server, viewer_token).post(
        SET_USER_SCOPE, {"id": user.id, "scope": {"country": "DE"}}
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    listed = await admin.data("{ users(first: 50) { nodes { id analyticsScope } } }")
    assert {"id": user.id, "analyticsScope": None} in listed["users"]["nodes"]
