"""Logs are one JSON object a line, with bound context and exceptions."""

from __future__ import annotations

import json
import logging
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
