"""The GraphQL-over-HTTP reference audit (graphql-http's `serverAudits`, pinned in
tests/audit/package-lock.json) against a real `dataflow dev`: every audit must pass,
the `application/graphql-response+json` ones included."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.live import free_port, wait_until_healthy
from tests.services import services_required

if TYPE_CHECKING:
    from collections.abc import Iterator

AUDIT_DIR = Path(__file__).parent
SCRIPT = AUDIT_DIR / "audit.mjs"
# 61 audits in graphql-http 1.23.1; fewer would mean the script stopped early.
AUDITS_AT_LEAST = 61


def _unavailable(message: str) -> None:
    if services_required():
        pytest.fail(f"{message} (and DATAFLOW_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def node() -> str:
    """Node, with the audit's packages installed (`npm ci --prefix tests/audit`)."""
    executable = shutil.which("node")
    if executable is None:
        _unavailable("node is not on PATH; the GraphQL-over-HTTP audit runs on Node")
    if not (AUDIT_DIR / "node_modules" / "graphql-http").is_dir():
        _unavailable("tests/audit/node_modules is missing: run `npm ci --prefix tests/audit`")
    assert executable is not None
    return executable


@pytest.fixture
def dev_url(tmp_path: Path) -> Iterator[str]:
    """`dataflow dev` in a fresh folder, on its embedded backends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(ENV="dev", DATA_DIR=str(tmp_path / "data"))
    log = tmp_path / "dev.log"
    executable = str(Path(sys.executable).parent / "dataflow")
    with log.open("wb") as output:
        process = subprocess.Popen(
            [executable, "dev", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(url, process, log)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_every_graphql_over_http_audit_passes(node: str, dev_url: str) -> None:
    finished = subprocess.run(
        [node, str(SCRIPT), f"{dev_url}/graphql"],
        cwd=AUDIT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    results = [json.loads(line) for line in finished.stdout.splitlines() if line.strip()]
    failing = [
        f"{result['id']} {result['name']}: {result['status']}: {result.get('reason')} "
        f"(HTTP {result.get('responseStatus')}, {result.get('responseType')}, {result.get('body')})"
        for result in results
        if result["status"] != "ok"
    ]
    assert not failing, "\n".join(failing)
    assert len(results) >= AUDITS_AT_LEAST
