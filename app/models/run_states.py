"""The run state machine, in one place: which status may follow which."""

from __future__ import annotations

from app.models.run import RunStatus

QUEUED, RUNNING = RunStatus.QUEUED, RunStatus.RUNNING
SUCCEEDED, FAILED = RunStatus.SUCCEEDED, RunStatus.FAILED
CANCELLING, CANCELLED = RunStatus.CANCELLING, RunStatus.CANCELLED

TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    QUEUED: frozenset({RUNNING, CANCELLED}),
    # RUNNING → QUEUED is the wait before an automatic retry of a transient failure.
    RUNNING: frozenset({SUCCEEDED, FAILED, CANCELLING, QUEUED}),
    # SUCCEEDED: the cancel came after the load had committed; the data is there.
    CANCELLING: frozenset({CANCELLED, FAILED, SUCCEEDED}),
    # An operator's retry puts a finished run back in the queue as a new attempt.
    FAILED: frozenset({QUEUED}),
    CANCELLED: frozenset({QUEUED}),
    SUCCEEDED: frozenset(),
}


def sources_of(target: RunStatus) -> frozenset[RunStatus]:
    """Every status from which `target` may be reached."""
    return frozenset(status for status, nexts in TRANSITIONS.items() if target in nexts)


def can_move(current: RunStatus, target: RunStatus) -> bool:
    return target in TRANSITIONS[current]
