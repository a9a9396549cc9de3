"""What the logs say: a caller's mistake is one info line without a traceback; a failure
of ours is an error with its traceback and context; and the worker and the scheduler
write the API's JSON lines."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import text

from app.db import session_scope
from app.logs import JSONFormatter
from app.models.user import Role
from tests import factories
from tests.e2e.test_analytics_embedded import ANALYTICS, MONTHLY_BY_COUNTRY
from tests.live import live_server
from tests.workers import stop_worker, worker_environment

if TYPE_CHECKING:
    from collections.abc import Iterator

    from app.config import Settings

# The keys every API log line has (app/logs.py), whatever the record adds.
API_KEYS = set(json.loads(JSONFormatter().format(logging.makeLogRecord({"msg": "x"}))))


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


async def post(
    server: str, query: str, variables: dict[str, Any], token: str | None, request_id: str
) -> dict[str, Any]:
    headers = {"X-Request-ID": request_id}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    body: dict[str, Any] = response.json()
    return body


def records_of(caplog: pytest.LogCaptureFixture, request_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.__dict__.get("request_id") == request_id]


@pytest.mark.parametrize(
    ("code", "query", "variables", "role"),
    [
        ("UNAUTHENTICATED", "query Me { me { email } }", {}, None),
        (
            "DATASET_NOT_FOUND",
            ANALYTICS,
            {"query": {**MONTHLY_BY_COUNTRY, "dataset": "no_such_dataset"}},
            Role.VIEWER,
        ),
        (
            "BAD_USER_INPUT",
            "query($f: RunFilter) { runs(filter: $f) { nodes { id } } }",
            {"f": {"statuses": ["DONE"]}},
            Role.VIEWER,
        ),
        ("FORBIDDEN", "query Users { users { nodes { id } } }", {}, Role.VIEWER),
    ],
)
async def test_a_callers_mistake_is_logged_at_info_without_a_traceback(
    server: str,
    embedded_settings: Settings,
    caplog: pytest.LogCaptureFixture,
    code: str,
    query: str,
    variables: dict[str, Any],
    role: Role | None,
) -> None:
    token = (await factories.make_user(embedded_settings, role))[1] if role else None
    request_id = f"client-{code.lower()}"
    with caplog.at_level(logging.DEBUG):
        body = await post(server, query, variables, token, request_id)

    assert body["errors"][0]["extensions"]["code"] == code
    logged = records_of(caplog, request_id)
    assert [(r.levelno, r.__dict__["code"]) for r in logged] == [(logging.INFO, code)]
    assert logged[0].exc_info is None
    # Nothing else logs it as an error either (Strawberry's own hook did, with a traceback).
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
    ]


async def test_an_unexpected_error_is_logged_at_error_with_its_context(
    server: str, embedded_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    admin, token = await factories.make_user(embedded_settings, Role.ADMIN)
    async with session_scope(embedded_settings) as session:  # a real fault: the table is gone
        await session.exec(text("DROP TABLE api_keys"))  # type: ignore[call-overload]
    with caplog.at_level(logging.DEBUG):
        body = await post(
            server,
            "query Keys($u: ID!) { apiKeys(userId: $u) { id } }",
            {"u": admin.id},
            token,
            "unexpected-1",
        )

    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_ERROR"
    (record,) = records_of(caplog, "unexpected-1")
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert (record.__dict__["user_id"], record.__dict__["operation"]) == (admin.id, "Keys")
    assert record.__dict__["variables"] == {"u": admin.id}


def run_until(command: list[str], settings: Settings, log: Path, marker: str) -> None:
    """Run a `dataflow` process command until its stderr shows `marker`, then stop it."""
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, env=worker_environment(settings), stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        deadline = time.monotonic() + 90
        while marker not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{command[1]} never logged {marker!r}:\n{log.read_text()}")
            time.sleep(0.2)
    finally:
        stop_worker(process)


def json_lines(log: Path) -> list[dict[str, Any]]:
    entries = []
    for line in log.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}\n(whole log:\n{log.read_text()})")
    return entries


@pytest.mark.integration
def test_a_worker_logs_the_apis_json_lines(service_settings: Settings, tmp_path: Path) -> None:
    dataflow = str(Path(sys.executable).parent / "dataflow")
    log = tmp_path / "worker.log"
    command = [dataflow, "worker", "--processes", "1", "--threads", "1"]
    run_until(command, service_settings, log, "ready for action")

    entries = json_lines(log)
    assert all(set(entry) >= API_KEYS for entry in entries), entries
    messages = [entry["message"] for entry in entries]
    assert any("is booting up" in message for message in messages)  # Dramatiq's main process
    assert any("ready for action" in message for message in messages)  # a worker process


@pytest.mark.integration
def test_the_scheduler_logs_the_apis_json_lines(service_settings: Settings, tmp_path: Path) -> None:
    dataflow = str(Path(sys.executable).parent / "dataflow")
    log = tmp_path / "scheduler.log"
    run_until([dataflow, "scheduler"], service_settings, log, "scheduler running")

    entries = json_lines(log)
    assert entries
    assert all(set(entry) >= API_KEYS for entry in entries), entries
