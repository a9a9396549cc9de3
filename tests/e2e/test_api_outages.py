"""A database outage as the API's clients see it: a request that meets a connection the
server dropped gets a typed, retryable SERVICE_UNAVAILABLE (not "internal error"), and
the next request succeeds on a fresh connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import pytest

from app.models.user import Role
from tests import factories
from tests.integration.slow_close import slow_to_close_proxy
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from app.config import Settings

pytestmark = pytest.mark.integration

RUNS = "{ runs(first: 5) { edges { node { id } } pageInfo { hasNextPage } } }"


async def test_a_dropped_database_connection_is_a_retryable_error(
    service_settings: Settings,
) -> None:
    assert service_settings.database_url
    url = service_settings.database_url
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        with slow_to_close_proxy(url) as proxy:
            settings = service_settings.model_copy(update={"database_url": proxy.url_through(url)})
            _, token = await factories.make_user(settings, Role.VIEWER)
            with live_server(settings) as server:
                client = GraphQLClient(server, token)
                before = (await client.data(RUNS))["runs"]  # the database is shared

                assert await proxy.terminate_backends(admin) >= 1
                await proxy.goodbyes_relayed()  # the API's pooled connection has the goodbye
                body = await client.post(RUNS)

                error = body["errors"][0]
                assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
                assert "retry" in error["message"]
                assert error["extensions"]["requestId"] in error["message"]
                assert (await client.data(RUNS))["runs"] == before
    finally:
        await admin.close()
