"""The analytics cache through the real server over HTTP: a repeat asks the metadata
database nothing, a load's new numbers show (in the same process and in another one,
through Redis), and no caller is ever served rows cached for another scope."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.analytics.hooks import after_successful_load
from app.analytics.scope import set_user_scope
from app.db import session_scope
from app.events import close_event_buses
from app.models.user import Role
from tests import factories
from tests.e2e.test_analytics_embedded import (
    ANALYTICS,
    MONTHLY_BY_COUNTRY,
    assert_same,
    expected_monthly,
)
from tests.live import GraphQLClient, free_port, live_analytics_server, wait_until_healthy
from tests.unit.analytics.helpers import (
    load,
    load_orders,
    make_pipeline_id,
    orders,
    spec_with_dataset,
)
from tests.workers import worker_environment

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from app.config import Settings

# Long enough that within a test only a load's announcement can make a version move.
TRUST = "60"
BY_COUNTRY = {
    "dataset": "orders",
    "measures": ["orders"],
    "dimensions": ["country"],
    "order": [{"member": "country"}],
}


@pytest.fixture
async def server(embedded_settings: Settings) -> AsyncIterator[str]:
    trusting = embedded_settings.model_copy(
        update={"analytics_version_trust_seconds": float(TRUST)}
    )
    async with live_analytics_server(trusting) as url:
        yield url


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement any metadata engine of this process runs meanwhile."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]).lower())

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def test_a_repeat_asks_the_database_nothing_and_a_load_shows_at_once(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    pipeline_id = await make_pipeline_id(embedded_settings, tmp_path)
    first = orders(5_000, seed=31)
    await load_orders(embedded_settings, pipeline_id, first, "replace")
    _, token = await factories.make_user(embedded_settings, Role.VIEWER)
    client = GraphQLClient(server, token)

    with statements() as asked:
        answer = (await client.data(ANALYTICS, {"query": MONTHLY_BY_COUNTRY}))["analytics"]
    assert (answer["datasetVersion"], answer["fromCache"]) == (1, False)
    assert any("datasets" in statement for statement in asked)  # the listener sees them

    for _ in range(3):
        with statements() as asked:
            repeat = (await client.data(ANALYTICS, {"query": MONTHLY_BY_COUNTRY}))["analytics"]
        assert (repeat["fromCache"], repeat["rows"]) == (True, answer["rows"])
        assert not [statement for statement in asked if "datasets" in statement]

    more = orders(2_000, seed=32)
    await load_orders(embedded_settings, pipeline_id, more, "append")
    after = (await client.data(ANALYTICS, {"query": MONTHLY_BY_COUNTRY}))["analytics"]
    assert (after["datasetVersion"], after["fromCache"]) == (2, False)
    assert_same(after["rows"], expected_monthly(pl.concat([first, more])))


def counts(frame: pl.DataFrame, countries: list[str] | None = None) -> list[list[Any]]:
    kept = frame if countries is None else frame.filter(pl.col("country").is_in(countries))
    return [list(row) for row in kept.group_by("country").len().sort("country").rows()]


async def test_no_caller_is_served_rows_cached_for_another_scope(
    server: str, embedded_settings: Settings, tmp_path: Path
) -> None:
    pipeline_id = await make_pipeline_id(embedded_settings, tmp_path)
    frame = orders(3_000, seed=33)
    await load_orders(embedded_settings, pipeline_id, frame, "replace")
    _, everyone_token = await factories.make_user(embedded_settings, Role.VIEWER)
    scoped, scoped_token = await factories.make_user(embedded_settings, Role.VIEWER)
    async with session_scope(embedded_settings) as session:
        scoped = await set_user_scope(session=session, user=scoped, scope={"country": "DE"})
    everyone, narrow = GraphQLClient(server, everyone_token), GraphQLClient(server, scoped_token)

    async def ask(client: GraphQLClient) -> tuple[bool, list[list[Any]]]:
        answer = (await client.data(ANALYTICS, {"query": BY_COUNTRY}))["analytics"]
        return answer["fromCache"], answer["rows"]

    assert await ask(everyone) == (False, counts(frame))
    assert await ask(narrow) == (False, counts(frame, ["DE"]))  # not the cached answer
    assert await ask(narrow) == (True, counts(frame, ["DE"]))
    assert await ask(everyone) == (True, counts(frame))

    async with session_scope(embedded_settings) as session:
        await set_user_scope(session=session, user=scoped, scope={"country": ["FR", "IT"]})
    assert await ask(narrow) == (False, counts(frame, ["FR", "IT"]))


@pytest.fixture
def other_process(
    service_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The API in a process of its own, as production runs it, hearing loads over Redis."""
    port = free_port()
    env = {**worker_environment(service_settings), "ANALYTICS_VERSION_TRUST_SECONDS": TRUST}
    command = [sys.executable, "-m", "uvicorn", "app.cli.server:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / "api.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", process, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.mark.integration
async def test_a_load_in_another_process_shows_through_its_announcement(
    other_process: str, service_settings: Settings, tmp_path: Path
) -> None:
    table = factories.unique("orders")
    query = {**BY_COUNTRY, "dataset": table}
    pipeline_id = await make_pipeline_id(service_settings, tmp_path)
    _, token = await factories.make_user(service_settings, Role.VIEWER)
    client = GraphQLClient(other_process, token)

    async def loaded(frame: pl.DataFrame) -> None:
        await load(service_settings, table, frame, "append")
        await after_successful_load(
            service_settings,
            pipeline_id=pipeline_id,
            pipeline_name=table,
            spec=spec_with_dataset(table),
            table=table,
        )

    first, more = orders(4_000, seed=34), orders(1_000, seed=35)
    try:
        await loaded(first)
        answer = (await client.data(ANALYTICS, {"query": query}))["analytics"]
        assert (answer["datasetVersion"], answer["rows"]) == (1, counts(first))
        repeat = (await client.data(ANALYTICS, {"query": query}))["analytics"]
        assert (repeat["datasetVersion"], repeat["fromCache"]) == (1, True)

        await loaded(more)
        # The server trusts its version for a minute: within this wait, only the
        # announcement the load published on Redis can make it read version 2.
        deadline = time.monotonic() + 30
        while True:
            after = (await client.data(ANALYTICS, {"query": query}))["analytics"]
            if after["datasetVersion"] == 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert (after["datasetVersion"], after["fromCache"]) == (2, False)
        assert after["rows"] == counts(pl.concat([first, more]))
    finally:
        await close_event_buses()
