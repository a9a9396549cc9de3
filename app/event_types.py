"""The kinds of run events and one typed payload per kind.

The engine, the runner and the run services produce these; the event store keeps each
as its kind, its stage and `to_payload()`. That stored form is the one every event had
when kinds were bare strings (the same kind names, the same payload keys), so the events
of earlier runs read the same and clients that switch on `kind` keep working. Like
Dagster's `DagsterEventType`, one enum names every kind, so a producer and a consumer
cannot drift apart on a string.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar


class EventKind(StrEnum):
    RUN_QUEUED = "run_queued"
    RUN_STARTED = "run_started"
    STAGE_STARTED = "stage_started"
    PROGRESS = "progress"
    STAGE_FINISHED = "stage_finished"
    CANCEL_REQUESTED = "cancel_requested"
    RUN_RETRYING = "run_retrying"
    RUN_FINISHED = "run_finished"


class Stage(StrEnum):
    EXTRACT = "extract"
    TRANSFORM = "transform"
    LOAD = "load"


class _Payload:
    """`to_payload` for the event dataclasses below: every field but `stage` (stored in
    its own column), leaving out those at None (a producer that had no value for a key
    never wrote it)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]
    __slots__ = ()

    def to_payload(self) -> dict[str, Any]:
        values = ((field.name, getattr(self, field.name)) for field in fields(self))
        return {name: value for name, value in values if name != "stage" and value is not None}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunQueued(_Payload):
    """A run (or its retry by an operator) waits for a worker."""

    kind: ClassVar[EventKind] = EventKind.RUN_QUEUED
    stage: ClassVar[None] = None
    status: str = "queued"
    pipeline_version: int | None = None
    attempt: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(_Payload):
    kind: ClassVar[EventKind] = EventKind.RUN_STARTED
    stage: ClassVar[None] = None
    attempt: int
    worker: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StageStarted(_Payload):
    """A stage begins; the load names its table and mode."""

    kind: ClassVar[EventKind] = EventKind.STAGE_STARTED
    stage: Stage
    table: str | None = None
    mode: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress(_Payload):
    """The run's counts so far: the load's after each batch; the transform's (rows read
    and rejected) while a blocking stage spills its input."""

    kind: ClassVar[EventKind] = EventKind.PROGRESS
    stage: Stage
    rows_read: int
    rows_written: int | None = None
    rows_rejected: int
    rows_filtered: int | None = None
    batches: int | None = None
    batches_resumed: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StageFinished(_Payload):
    """A stage ended, with the counts it is the one to know."""

    kind: ClassVar[EventKind] = EventKind.STAGE_FINISHED
    stage: Stage
    rows_read: int | None = None
    rows_written: int | None = None
    rows_filtered: int | None = None
    rows_rejected: int | None = None

    @property
    def load_committed(self) -> bool:
        """The run's rows are in the table: a cancel arriving now cannot undo them."""
        return self.stage is Stage.LOAD


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRequested(_Payload):
    kind: ClassVar[EventKind] = EventKind.CANCEL_REQUESTED
    stage: ClassVar[None] = None
    status: str = "cancelling"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRetrying(_Payload):
    """An attempt failed transiently (or its worker was lost): `attempt` is the next."""

    kind: ClassVar[EventKind] = EventKind.RUN_RETRYING
    stage: ClassVar[None] = None
    attempt: int
    reason: str
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(_Payload):
    """The run ended: its status, and its counts or its error."""

    kind: ClassVar[EventKind] = EventKind.RUN_FINISHED
    stage: ClassVar[None] = None
    status: str
    attempt: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    rows_read: int | None = None
    rows_written: int | None = None
    rows_rejected: int | None = None
    rows_filtered: int | None = None


Event = (
    RunQueued
    | RunStarted
    | StageStarted
    | Progress
    | StageFinished
    | CancelRequested
    | RunRetrying
    | RunFinished
)
"""Any run event, as its producer made it."""

STAGE_EVENTS = (StageStarted, Progress)
"""Events that move a run's `stage` column to theirs."""
