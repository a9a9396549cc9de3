"""The guard that keeps two test sessions from emptying each other's Redis database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLAIM = "from tests.services import claim_redis_database as claim; claim({url!r})"


def test_a_second_session_on_the_same_redis_database_stops_with_a_clear_message(
    claimed_redis_url: str,
) -> None:
    # This session holds the claim (the fixture above): another process may not take it.
    second = subprocess.run(
        [sys.executable, "-c", CLAIM.format(url=claimed_redis_url)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode != 0
    assert f"is using {claimed_redis_url}" in second.stderr
    assert "DATAFLOW_TEST_REDIS_URL" in second.stderr


def test_another_redis_database_can_be_claimed_meanwhile(claimed_redis_url: str) -> None:
    other = claimed_redis_url.rsplit("/", 1)[0] + "/14"
    script = CLAIM.format(url=other) + "; print('claimed')"
    second = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (second.returncode, second.stdout.strip()) == (0, "claimed"), second.stderr
