"""Logs are one JSON object a line, with bound context and exceptions."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import TYPE_CHECKING

from app.logs import JSONFormatter, configure_logging

if TYPE_CHECKING:
    import pytest


def test_a_record_becomes_one_json_line_with_its_context() -> None:
    record = logging.makeLogRecord(
        {"name": "dataflow.test", "levelname": "WARNING", "msg": "run %s slow", "args": ("r1",)}
    )
    record.run_id = "r1"
    line = JSONFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["message"] == "run r1 slow"
    assert entry["level"] == "warning"
    assert entry["run_id"] == "r1"


def test_exceptions_are_included() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "failed", (), exc_info=__import__("sys").exc_info()
        )
    entry = json.loads(JSONFormatter().format(record))
    assert "ValueError: boom" in entry["exception"]


def test_configure_logging_installs_the_json_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("INFO")
        logging.getLogger("dataflow.test").info("hello")
        entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert entry["message"] == "hello"
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


def test_sentry_starts_only_when_a_dsn_is_set() -> None:
    # In a child process: Sentry patches libraries globally once started.
    program = (
        "import sentry_sdk\n"
        "from app.config import Settings\n"
        "from app.observability import init_sentry\n"
        "assert init_sentry(Settings(sentry_dsn=None)) is False\n"
        "assert not sentry_sdk.get_client().is_active()\n"
        "assert init_sentry(Settings(sentry_dsn='https://key@sentry.invalid/1')) is True\n"
        "assert sentry_sdk.get_client().is_active()\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
