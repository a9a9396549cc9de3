"""Runs: trigger (idempotent), move through the state machine, fenced on the attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, update
from sqlmodel import col, select

from app.errors import InvalidInput, InvalidTransition, RunNotFound
from app.event_types import CancelRequested, RunFinished, RunQueued
from app.models.base import utcnow
from app.models.run import Run, RunStatus
from app.models.run_states import can_move, sources_of
from app.services import pipelines as pipeline_service
from app.services import run_events as event_service
from app.services.pagination import Page, paginate, record_select

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.models.base import Record
    from app.models.user import User
    from app.services.run_events import StoredEvent

MAX_IDEMPOTENCY_KEY = 128


@dataclass(frozen=True)
class Triggered:
    run: Run
    created: bool  # False when an idempotency key matched an earlier run
    events: list[StoredEvent]


_V = TypeVar("_V")

MAX_FILTER_VALUES = 100
"""Values one list argument of a filter may hold (README: Limits). PostgreSQL's driver
binds at most 32,767 parameters a statement; a list is refused well before that."""
IN_CHUNK = 1_000
"""Ids per `IN (...)` when a batch lookup is split to stay under that bound."""


def distinct_values(values: Collection[_V], field: str) -> list[_V]:
    """A list argument without repeats, refused past MAX_FILTER_VALUES (naming `field`)."""
    if len(values) > MAX_FILTER_VALUES:
        raise InvalidInput(
            f"{field}: {len(values):,} values; at most {MAX_FILTER_VALUES} are allowed",
            path=field.split("."),
            details={"limit": MAX_FILTER_VALUES},
        )
    return list(dict.fromkeys(values))


@dataclass(frozen=True)
class RunFilter:
    pipeline_id: str | None = None
    backfill_id: str | None = None
    statuses: Collection[RunStatus] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    id_prefix: str | None = None  # the first characters of a run's id (see `id_prefix`)


# A prefix is lowercase hex and the uuid's dashes; shorter ones match too many runs to help.
MIN_ID_PREFIX = 4
_ID_CHARACTERS = frozenset("0123456789abcdef-")
_HEX = "0123456789abcdef"


def id_prefix(text: str) -> str:
    """A run id prefix as typed (any case), checked: it is bound as a parameter anyway,
    but a typo gets a clear answer instead of an empty list."""
    prefix = text.strip().lower()
    if len(prefix) < MIN_ID_PREFIX or len(prefix) > 36 or not set(prefix) <= _ID_CHARACTERS:
        raise InvalidInput(
            f"{text!r} is not a run id prefix: at least {MIN_ID_PREFIX} of the id's first "
            "characters (0-9, a-f and -)",
            path=["filter", "idPrefix"],
        )
    return prefix


def after_prefix(prefix: str) -> str | None:
    """The smallest hex string above every id that starts with `prefix`: the end of an
    index range. Bumping a hex digit (never into punctuation, which some collations
    ignore) keeps the range right under C, ICU and glibc collations alike."""
    for index in range(len(prefix) - 1, -1, -1):
        char = prefix[index]
        if char in _HEX and char != "f":
            return prefix[:index] + _HEX[_HEX.index(char) + 1]
    return None


def _id_starts_with(prefix: str) -> list[Any]:
    """Conditions for ids starting with `prefix`: a range the primary key's index can
    scan, and the exact LIKE (escaped, bound) that decides."""
    conditions = [col(Run.id) >= prefix, col(Run.id).startswith(prefix, autoescape=True)]
    end = after_prefix(prefix)
    if end is not None:
        conditions.append(col(Run.id) < end)
    return conditions


@dataclass(frozen=True)
class Changed:
    """A run after a transition, and the events written with it (to publish on commit)."""

    run: Run
    events: list[StoredEvent]


async def get(*, session: AsyncSession, run_id: str) -> Run:
    run = await session.get(Run, run_id)
    if run is None:
        raise RunNotFound(f"run {run_id} does not exist", path=["runId"])
    return run


async def list_page(
    *,
    session: AsyncSession,
    first: int | None = None,
    after: str | None = None,
    where: RunFilter | None = None,
) -> Page[Record]:
    """A page of runs, newest first, as records (the API only reads them)."""
    statement = record_select(Run)
    if where is not None:
        if where.pipeline_id is not None:
            statement = statement.where(Run.pipeline_id == where.pipeline_id)
        if where.backfill_id is not None:
            statement = statement.where(Run.backfill_id == where.backfill_id)
        if where.statuses:
            statuses = distinct_values(where.statuses, "filter.statuses")
            statement = statement.where(col(Run.status).in_(statuses))
        if where.created_after is not None:
            statement = statement.where(col(Run.created_at) >= where.created_after)
        if where.created_before is not None:
            statement = statement.where(col(Run.created_at) < where.created_before)
        if where.id_prefix is not None:
            statement = statement.where(*_id_starts_with(id_prefix(where.id_prefix)))
    return await paginate(session, statement, Run, first=first, after=after)


async def latest_for_pipelines(
    *, session: AsyncSession, pipeline_ids: Sequence[str]
) -> list[Run | None]:
    """The newest run of each pipeline, one query per IN_CHUNK ids (for a DataLoader)."""
    by_pipeline: dict[str, Run] = {}
    unique = list(dict.fromkeys(pipeline_ids))
    for start in range(0, len(unique), IN_CHUNK):
        chunk = unique[start : start + IN_CHUNK]
        newest = (
            select(Run.pipeline_id, func.max(Run.created_at).label("created_at"))
            .where(col(Run.pipeline_id).in_(chunk))
            .group_by(col(Run.pipeline_id))
            .subquery()
        )
        statement = select(Run).join(
            newest,
            (col(Run.pipeline_id) == newest.c.pipeline_id)
            & (col(Run.created_at) == newest.c.created_at),
        )
        by_pipeline.update((run.pipeline_id, run) for run in (await session.exec(statement)).all())
    return [by_pipeline.get(pipeline_id) for pipeline_id in pipeline_ids]


async def _by_idempotency_key(session: AsyncSession, pipeline_id: str, key: str) -> Run | None:
    """The run this key already triggered (the key checked first)."""
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInput(
            f"idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
            path=["idempotencyKey"],
        )
    statement = select(Run).where(Run.pipeline_id == pipeline_id, Run.idempotency_key == key)
    return (await session.exec(statement)).first()


async def trigger(
    *,
    session: AsyncSession,
    pipeline_id: str,
    actor: User | None,
    idempotency_key: str | None = None,
    params: dict[str, Any] | None = None,
    scheduled_for: datetime | None = None,
    backfill_id: str | None = None,
) -> Triggered:
    """Insert a QUEUED run; the same idempotency key returns the earlier run instead."""
    pipeline = await pipeline_service.get(session=session, pipeline_id=pipeline_id)
    if idempotency_key is not None:
        earlier = await _by_idempotency_key(session, pipeline.id, idempotency_key)
        if earlier is not None:
            return Triggered(run=earlier, created=False, events=[])
    run = Run(
        pipeline_id=pipeline.id,
        pipeline_version=pipeline.version,
        idempotency_key=idempotency_key,
        params=params or {},
        created_by=actor.id if actor else None,
        scheduled_for=scheduled_for,
        backfill_id=backfill_id,
    )
    session.add(run)
    await session.flush()
    queued = await event_service.append(
        session=session, run_id=run.id, event=RunQueued(pipeline_version=run.pipeline_version)
    )
    return Triggered(run=run, created=True, events=[queued])


async def transition(
    *,
    session: AsyncSession,
    run_id: str,
    to: RunStatus,
    values: dict[str, Any] | None = None,
    attempt: int | None = None,
    only_from: Collection[RunStatus] | None = None,
) -> Run | None:
    """Move the run to `to` if its status allows it (and, if given, the attempt matches),
    atomically; None when it did not (another worker moved it, or it was cancelled)."""
    allowed = sources_of(to) if only_from is None else frozenset(only_from) & sources_of(to)
    statement = update(Run).where(col(Run.id) == run_id, col(Run.status).in_(list(allowed)))
    if attempt is not None:
        statement = statement.where(col(Run.attempt) == attempt)
    statement = statement.values(status=to, **(values or {})).returning(Run)
    result = await session.exec(statement)
    run: Run | None = result.scalars().first()
    return run


async def record_progress(
    *,
    session: AsyncSession,
    run_id: str,
    attempt: int,
    values: dict[str, Any],
    while_cancelling: bool = False,
) -> Run | None:
    """Update a running run, fenced on its attempt; None means stop: this worker lost the
    run, or it is being cancelled (the caller looks at which). `while_cancelling` lets a
    write through during a cancel, for what happened before the cancel could act."""
    statuses = (
        [RunStatus.RUNNING, RunStatus.CANCELLING] if while_cancelling else [RunStatus.RUNNING]
    )
    statement = (
        update(Run)
        .where(
            col(Run.id) == run_id,
            col(Run.attempt) == attempt,
            col(Run.status).in_(statuses),
        )
        # An empty write still proves the worker holds the run.
        .values(**(values or {"attempt": attempt}))
        .returning(Run)
    )
    run: Run | None = (await session.exec(statement)).scalars().first()
    return run


async def finish(
    *,
    session: AsyncSession,
    run_id: str,
    attempt: int,
    status: RunStatus,
    values: dict[str, Any],
) -> Run | None:
    """RUNNING (or CANCELLING) → a terminal status, fenced on the attempt."""
    if not status.is_terminal:
        raise ValueError(f"{status} is not a terminal status")
    return await transition(
        session=session,
        run_id=run_id,
        to=status,
        attempt=attempt,
        values={**values, "finished_at": utcnow(), "lease_expires_at": None},
    )


async def cancel(*, session: AsyncSession, run_id: str) -> Changed:
    """A queued run is cancelled at once; a running one is asked to stop between batches."""
    run = await get(session=session, run_id=run_id)
    changed = None
    if run.status is RunStatus.QUEUED:
        changed = await _cancel_queued(session, run_id)
    elif run.status is RunStatus.RUNNING:
        changed = await _ask_to_stop(session, run_id)
    if changed is not None:
        return changed
    run = await get(session=session, run_id=run_id)  # it moved meanwhile: where to?
    if run.status is RunStatus.CANCELLING:
        return Changed(run=run, events=[])  # already asked: cancelling twice is fine
    raise InvalidTransition(
        f"run {run_id} is {run.status.value}; only queued or running runs can be cancelled",
        path=["runId"],
    )


async def _cancel_queued(session: AsyncSession, run_id: str) -> Changed | None:
    done = await transition(
        session=session,
        run_id=run_id,
        to=RunStatus.CANCELLED,
        only_from={RunStatus.QUEUED},
        values={"finished_at": utcnow()},
    )
    if done is None:
        return None
    finished = RunFinished(status=RunStatus.CANCELLED.value)
    event = await event_service.append(session=session, run_id=run_id, event=finished)
    return Changed(run=done, events=[event])


async def _ask_to_stop(session: AsyncSession, run_id: str) -> Changed | None:
    """RUNNING → CANCELLING: its worker notices at its next progress write."""
    asked = await transition(
        session=session, run_id=run_id, to=RunStatus.CANCELLING, only_from={RunStatus.RUNNING}
    )
    if asked is None:
        return None
    event = await event_service.append(session=session, run_id=run_id, event=CancelRequested())
    return Changed(run=asked, events=[event])


async def retry(*, session: AsyncSession, run_id: str) -> Changed:
    """Put a failed or cancelled run back in the queue as its next attempt."""
    run = await get(session=session, run_id=run_id)
    if not can_move(run.status, RunStatus.QUEUED) or run.status is RunStatus.RUNNING:
        raise InvalidTransition(
            f"run {run_id} is {run.status.value}; only failed or cancelled runs can be retried",
            path=["runId"],
        )
    values = {
        "attempt": run.attempt + 1,
        "error_code": None,
        "error_message": None,
        "finished_at": None,
        "started_at": None,
        "worker_id": None,
    }
    again = await transition(
        session=session,
        run_id=run_id,
        to=RunStatus.QUEUED,
        only_from={RunStatus.FAILED, RunStatus.CANCELLED},
        values=values,
    )
    if again is None:  # raced with another retry
        raise InvalidTransition(f"run {run_id} changed meanwhile; look again", path=["runId"])
    queued = RunQueued(attempt=again.attempt)
    event = await event_service.append(session=session, run_id=run_id, event=queued)
    return Changed(run=again, events=[event])
