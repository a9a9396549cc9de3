"""`dataflow worker` makes an idle worker look at Redis often enough that a triggered run
starts within a fraction of a second, not up to Dramatiq's default second."""

from __future__ import annotations

import os
import subprocess
import sys

from app.cli.processes import WORKER_POLL_MS

# What `worker` does before it imports Dramatiq, then what Dramatiq's worker takes.
PROBE = """
from app.cli.processes import dramatiq_environment
dramatiq_environment()
import dramatiq.worker
print(dramatiq.worker.WORKER_TIMEOUT)
"""


def _worker_timeout(environment: dict[str, str]) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return int(done.stdout.strip())


def test_an_idle_worker_polls_its_queues_every_fraction_of_a_second() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "dramatiq_worker_timeout"}
    assert _worker_timeout(environment) == WORKER_POLL_MS < 1000


def test_an_operator_s_own_dramatiq_setting_wins() -> None:
    environment = {**os.environ, "dramatiq_worker_timeout": "750"}
    assert _worker_timeout(environment) == 750
