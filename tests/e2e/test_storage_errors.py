"""Storage failures reach a client as a fixed text that says what failed and what to do,
with the request id; the server path and the SQL in DuckDB's words stay in the log."""

from __future__ import annotations

import logging
import shutil
from typing import TYPE_CHECKING

import pytest

from app.analytics.hooks import after_successful_load
from app.analytics.replica import REPLICA_FOLDER
from app.models.user import Role
from tests import factories
from tests.e2e.test_analytics_embedded import ANALYTICS, MONTHLY_BY_COUNTRY
from tests.live import GraphQLClient, live_analytics_server
from tests.unit.analytics.helpers import load, make_pipeline_id, orders, spec_with_dataset

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from app.config import Settings

pytestmark = pytest.mark.integration

# What DuckDB's own message would have shown: the replica's file, and its statement.
LEAKS = (".parquet", "read_parquet", "SELECT", "No files found", "/")


@pytest.fixture
async def server(service_settings: Settings) -> AsyncIterator[str]:
    async with live_analytics_server(service_settings) as url:
        yield url


async def test_a_missing_replica_is_unavailable_without_its_path_or_sql(
    server: str, service_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    table = factories.unique("orders")
    pipeline_id = await make_pipeline_id(service_settings, tmp_path)
    await load(service_settings, table, orders(200, seed=3), "append")
    await after_successful_load(
        service_settings,
        pipeline_id=pipeline_id,
        pipeline_name=table,
        spec=spec_with_dataset(table),
        table=table,
    )
    # The API cannot see the worker's replica (compose without a shared object store).
    shutil.rmtree(service_settings.data_dir / REPLICA_FOLDER)
    _, token = await factories.make_user(service_settings, Role.VIEWER)
    client = GraphQLClient(server, token)

    with caplog.at_level(logging.INFO, logger="dataflow.graphql"):
        body = await client.post(ANALYTICS, {"query": {**MONTHLY_BY_COUNTRY, "dataset": table}})

    error = body["errors"][0]
    assert error["extensions"]["code"] == "WAREHOUSE_UNAVAILABLE"
    request_id = error["extensions"]["requestId"]
    assert error["message"].startswith("cannot read the dataset's data")
    assert "ask an operator" in error["message"]
    assert f"(request id {request_id})" in error["message"]
    message_without_id = error["message"].replace(request_id, "")
    for leak in LEAKS:
        assert leak not in message_without_id, leak
    # The log has what the client was not shown, under the same request id.
    logged = [
        record for record in caplog.records if record.__dict__.get("request_id") == request_id
    ]
    assert logged, [record.getMessage() for record in caplog.records]
    assert logged[0].levelno == logging.WARNING
    assert ".parquet" in logged[0].getMessage()
    assert logged[0].exc_info is not None
