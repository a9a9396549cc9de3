"""Typed run events keep the stored form: the kind names and payload keys runs always had."""

from __future__ import annotations

import json
from typing import get_args

from app.event_types import (
    CancelRequested,
    Event,
    EventKind,
    Progress,
    RunFinished,
    RunQueued,
    RunRetrying,
    StageFinished,
    StageStarted,
)
from app.event_types import Stage as S


def test_every_kind_has_exactly_one_payload_type() -> None:
    kinds = [member.kind for member in get_args(Event)]
    assert sorted(kinds) == sorted(EventKind)


def test_the_kind_names_are_the_stored_strings() -> None:
    # Events stored before the enum existed carry these names; each must still parse.
    stored = [
        "run_queued",
        "run_started",
        "stage_started",
        "progress",
        "stage_finished",
        "cancel_requested",
        "run_retrying",
        "run_finished",
    ]
    assert [EventKind(name).value for name in stored] == stored


def test_a_payload_holds_the_fields_set_and_never_the_stage() -> None:
    assert StageStarted(stage=S.EXTRACT).to_payload() == {}
    assert StageStarted(stage=S.LOAD, table="t", mode="merge").to_payload() == {
        "table": "t",
        "mode": "merge",
    }
    assert StageFinished(stage=S.TRANSFORM, rows_filtered=2, rows_rejected=0).to_payload() == {
        "rows_filtered": 2,
        "rows_rejected": 0,
    }
    assert Progress(stage=S.TRANSFORM, rows_read=5, rows_rejected=1).to_payload() == {
        "rows_read": 5,
        "rows_rejected": 1,
    }


def test_run_level_payloads_keep_their_keys() -> None:
    assert RunQueued(pipeline_version=3).to_payload() == {"status": "queued", "pipeline_version": 3}
    assert RunQueued(attempt=2).to_payload() == {"status": "queued", "attempt": 2}
    assert CancelRequested().to_payload() == {"status": "cancelling"}
    assert RunRetrying(attempt=2, reason="WORKER_LOST").to_payload() == {
        "attempt": 2,
        "reason": "WORKER_LOST",
    }
    failed = RunFinished(status="failed", attempt=1, error_code="X", error_message="why")
    assert failed.to_payload() == {
        "status": "failed",
        "attempt": 1,
        "error_code": "X",
        "error_message": "why",
    }
    assert RunFinished(status="cancelled").to_payload() == {"status": "cancelled"}


def test_a_payload_is_plain_json() -> None:
    """What the store writes and the bus publishes: no enum or dataclass leaks in."""
    event = StageStarted(stage=S.LOAD, table="t", mode="append")
    assert json.loads(json.dumps(event.to_payload())) == event.to_payload()
    assert type(event.kind.value) is str
