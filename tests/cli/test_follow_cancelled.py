"""A followed run that ends cancelled exits 4, after saying so (the events come from a
stand-in client: a real run cannot be held still long enough to cancel it on cue)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typer.testing import CliRunner

from app.cli import cli
from app.client import DataFlowClient

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pytest

RUN = {
    "id": "r1",
    "status": "QUEUED",
    "attempt": 1,
    "stage": None,
    "rowsRead": 0,
    "rowsWritten": 0,
    "rowsRejected": 0,
    "rowsFiltered": 0,
    "params": {},
    "pipelineVersion": 1,
    "createdAt": "2026-01-01T00:00:00+00:00",
    "scheduledFor": None,
    "startedAt": None,
    "finishedAt": None,
    "error": None,
    "pipeline": {"id": "p1", "name": "orders"},
}


def event(number: int, kind: str, stage: str | None = None, **payload: Any) -> dict[str, Any]:
    at = f"2026-01-01T00:00:0{number}+00:00"
    return {
        "id": str(number),
        "runId": "r1",
        "at": at,
        "kind": kind,
        "stage": stage,
        "payload": payload,
    }


class CancelledRun:
    """Answers as the API would for a run that is cancelled during its load."""

    def pipeline_by_name(self, name: str) -> dict[str, Any]:
        return {"id": "p1", "name": name}

    def trigger_run(self, *_: object) -> dict[str, Any]:
        return RUN

    def follow_run(self, run_id: str, after: str | None = None) -> Iterator[dict[str, Any]]:
        assert (run_id, after) == ("r1", None)
        yield event(1, "run_started")
        yield event(2, "stage_started", "load")
        yield event(3, "progress", "load", rows_read=500, rows_written=400)
        yield event(4, "cancel_requested", status="cancelling")
        yield event(5, "run_finished", status="cancelled")

    def run(self, run_id: str) -> dict[str, Any]:
        assert run_id == "r1"
        return RUN | {
            "status": "CANCELLED",
            "rowsRead": 500,
            "startedAt": "2026-01-01T00:00:01+00:00",
            "finishedAt": "2026-01-01T00:00:05+00:00",
        }


def test_a_cancelled_run_exits_4(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DataFlowClient, "connect", staticmethod(lambda _: CancelledRun()))

    result = CliRunner().invoke(cli, ["runs", "trigger", "orders", "--follow"])

    assert result.exit_code == 4
    assert "cancel requested" in result.output
    assert "500 rows read, 400 written" in result.output
    assert "run r1 CANCELLED: 500 rows read" in result.output
    assert "in 4.0 s" in result.output
