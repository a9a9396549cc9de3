"""Run operations as services: claims within concurrency, backoff, the reaper, backfills
and retention, against SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from app.db import session_scope
from app.errors import InvalidInput, NotFound
from app.etl.sources.policy import SourcePolicy
from app.models.backfill import BackfillStep
from app.models.base import utcnow
from app.models.pipeline import PipelineCreate
from app.models.run import Run, RunStatus
from app.services import backfills as backfill_service
from app.services import leases, reaper, retention
from app.services import pipelines as pipeline_service
from app.services import run_events as event_service
from app.services import runs as run_service
from tests import factories

if TYPE_CHECKING:
    from pathlib import Path

    from sqlmodel.ext.asyncio.session import AsyncSession

    from app.config import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def settings(request: pytest.FixtureRequest) -> Settings:
    name = "embedded_settings" if request.param == "sqlite" else "service_settings"
    settings: Settings = request.getfixturevalue(name)
    return settings.model_copy(update={"retry_base_seconds": 10, "retry_max_seconds": 60})


async def _pipeline(settings: Settings, tmp_path: Path, **operations: object) -> str:
    source = await factories.make_source(
        settings, factories.write_csv(tmp_path, factories.orders_rows(2))
    )
    data = PipelineCreate(
        name=factories.unique("ops"),
        source_id=source.id,
        spec=factories.orders_spec("ops"),
        **operations,  # type: ignore[arg-type]
    )
    async with session_scope(settings) as session:
        pipeline = await pipeline_service.create(
            session=session, data=data, actor=None, policy=SourcePolicy.from_settings(settings)
        )
    return pipeline.id


async def _queued(settings: Settings, pipeline_id: str) -> str:
    async with session_scope(settings) as session:
        return (
            await run_service.trigger(session=session, pipeline_id=pipeline_id, actor=None)
        ).run.id


async def _claim(settings: Settings, run_id: str, worker: str = "w") -> leases.Claim:
    async with session_scope(settings) as session:
        return await leases.claim(
            session=session, settings=settings, run_id=run_id, worker_id=worker
        )


async def test_concurrency_slots_and_backoff(settings: Settings, tmp_path: Path) -> None:
    pipeline = await _pipeline(settings, tmp_path, concurrency=1)
    first, second = await _queued(settings, pipeline), await _queued(settings, pipeline)
    assert (await _claim(settings, first)).run is not None
    waiting = await _claim(settings, second, "other")
    assert waiting.run is None
    assert waiting.retry_at is not None  # no slot: look again shortly
    async with session_scope(settings) as session:
        back = await leases.requeue(
            session=session,
            settings=settings,
            run_id=first,
            attempt=1,
            error_code="CONNECTION_LOST",
            error_message="reset",
        )
        assert back is not None
        assert (back.status, back.attempt) == (RunStatus.QUEUED, 2)
        assert back.not_before is not None
        # Full jitter: anywhere in [0, base] for the first retry (base is 10 s here).
        assert back.not_before - utcnow() <= timedelta(seconds=10)
        assert not await leases.renew(session=session, settings=settings, run_id=first, attempt=1)
        # The draw may be near zero; pin the wait so the refusal below is certain.
        not_before = utcnow() + timedelta(seconds=60)
        await session.exec(update(Run).where(col(Run.id) == first).values(not_before=not_before))
    # The slot is free now, so the second run goes; the first still waits out its backoff.
    assert (await _claim(settings, second, "other")).run is not None
    backing_off = await _claim(settings, first)
    assert backing_off.run is None
    assert backing_off.retry_at == not_before
    for attempt in (1, 2, 3, 10):
        delay = leases.backoff(settings, attempt).total_seconds()
        assert 0 <= delay <= min(60, 10 * 2 ** (attempt - 1))


async def test_the_reaper_takes_back_what_dead_workers_held(
    settings: Settings, tmp_path: Path
) -> None:
    pipeline = await _pipeline(settings, tmp_path, max_attempts=2, concurrency=3)
    crashed, last_try, cancelling = [await _queued(settings, pipeline) for _ in range(3)]
    for run_id in (crashed, last_try, cancelling):
        assert (await _claim(settings, run_id)).run is not None
    past = utcnow() - timedelta(seconds=5)
    async with session_scope(settings) as session:
        await session.exec(update(Run).where(col(Run.id) == last_try).values(attempt=2))
        await run_service.cancel(session=session, run_id=cancelling)
        await session.exec(
            update(Run)
            .where(col(Run.id).in_([crashed, last_try, cancelling]))
            .values(lease_expires_at=past)
        )
    async with session_scope(settings) as session:
        reaped = await reaper.reap(session=session, settings=settings)
    assert crashed in reaped.to_enqueue
    async with session_scope(settings) as session:
        states = {
            run_id: (await run_service.get(session=session, run_id=run_id))
            for run_id in (crashed, last_try, cancelling)
        }
        kinds = [e.kind for e in await event_service.list_after(session=session, run_id=crashed)]
    assert (states[crashed].status, states[crashed].attempt) == (RunStatus.QUEUED, 2)
    assert states[crashed].error_code == "WORKER_LOST"
    assert (states[last_try].status, states[last_try].error_code) == (
        RunStatus.FAILED,
        "WORKER_LOST",
    )
    assert states[cancelling].status is RunStatus.CANCELLED
    assert kinds[-1] == "run_retrying"


async def test_the_reaper_times_out_runs_and_resends_lost_messages(
    settings: Settings, tmp_path: Path
) -> None:
    pipeline = await _pipeline(settings, tmp_path, timeout_seconds=60, concurrency=2)
    slow, lost = await _queued(settings, pipeline), await _queued(settings, pipeline)
    await _claim(settings, slow)
    long_ago = utcnow() - timedelta(hours=1)
    async with session_scope(settings) as session:
        await session.exec(update(Run).where(col(Run.id) == slow).values(started_at=long_ago))
        await session.exec(update(Run).where(col(Run.id) == lost).values(created_at=long_ago))
    async with session_scope(settings) as session:
        reaped = await reaper.reap(session=session, settings=settings)
    assert lost in reaped.to_enqueue
    async with session_scope(settings) as session:
        timed_out = await run_service.get(session=session, run_id=slow)
        again = await reaper.reap(session=session, settings=settings)
    assert (timed_out.status, timed_out.error_code) == (RunStatus.FAILED, "RUN_TIMEOUT")
    assert lost not in again.to_enqueue  # resent once, not on every sweep


async def test_backfills_cut_partitions_and_cancel_as_one(
    settings: Settings, tmp_path: Path
) -> None:
    pipeline = await _pipeline(settings, tmp_path)
    start = datetime(2026, 1, 30, tzinfo=UTC)
    async with session_scope(settings) as session:
        created = await backfill_service.create(
            session=session,
            pipeline_id=pipeline,
            start=start,
            end=datetime(2026, 2, 2, tzinfo=UTC),
            step=BackfillStep.DAY,
            actor=None,
            allow_unsafe_mode=True,  # an append pipeline: this test is about partitions
        )
    params = [run.params for run in created.runs]
    assert [p["partition"] for p in params] == ["2026-01-30", "2026-01-31", "2026-02-01"]
    assert params[0]["partition_end"] == "2026-01-31T00:00:00+00:00"
    backfill_id = created.backfill.id
    await _claim(settings, created.runs[0].id)
    async with session_scope(settings) as session:
        progress = await backfill_service.progress(session=session, backfill_id=backfill_id)
        assert (progress[RunStatus.QUEUED], progress[RunStatus.RUNNING]) == (2, 1)
        changed = await backfill_service.cancel(session=session, backfill_id=backfill_id)
        assert len(changed) == 3
        after = await backfill_service.progress(session=session, backfill_id=backfill_id)
        assert (after[RunStatus.CANCELLED], after[RunStatus.CANCELLING]) == (2, 1)
        with pytest.raises(NotFound):
            await backfill_service.get(session=session, backfill_id="missing")


def test_partitions_follow_the_calendar() -> None:
    months = backfill_service.partitions(
        datetime(2025, 11, 15, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), BackfillStep.MONTH
    )
    assert [low.date().isoformat() for low, _ in months] == [
        "2025-11-15",
        "2025-12-01",
        "2026-01-01",
    ]
    hours = backfill_service.partitions(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 3, tzinfo=UTC), BackfillStep.HOUR
    )
    assert len(hours) == 3
    weeks = backfill_service.partitions(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 20, tzinfo=UTC), BackfillStep.WEEK
    )
    assert weeks[-1][1] == datetime(2026, 1, 20, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="after"):
        backfill_service.partitions(weeks[0][1], weeks[0][0], BackfillStep.DAY)
    with pytest.raises(InvalidInput, match="at most 1000"):
        backfill_service.partitions(
            datetime(2020, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), BackfillStep.HOUR
        )


async def _clean_up(session: AsyncSession, cutoff: datetime) -> retention.Removed:
    """What `dataflow cleanup` does to the metadata: the runs that ended before the
    cutoff, then their removal."""
    run_ids = await retention.finished_before(session=session, cutoff=cutoff)
    return await retention.remove(session=session, run_ids=run_ids)


async def test_retention_removes_old_finished_runs_only(settings: Settings, tmp_path: Path) -> None:
    pipeline = await _pipeline(settings, tmp_path, concurrency=5)
    old_done, old_running, recent_done = [await _queued(settings, pipeline) for _ in range(3)]
    long_ago = utcnow() - timedelta(days=60)
    async with session_scope(settings) as session:
        for run_id in (old_done, recent_done):
            await run_service.cancel(session=session, run_id=run_id)
        await session.exec(update(Run).where(col(Run.id) == old_done).values(finished_at=long_ago))
    await _claim(settings, old_running)
    async with session_scope(settings) as session:
        await session.exec(
            update(Run).where(col(Run.id) == old_running).values(created_at=long_ago)
        )
        removed = await _clean_up(session, cutoff=utcnow() - timedelta(days=30))
    # The database is shared with this session's other tests, whose old runs go too.
    assert old_done in removed.run_ids
    assert not {old_running, recent_done} & set(removed.run_ids)
    assert removed.events >= 2  # queued and finished
    async with session_scope(settings) as session:
        with pytest.raises(NotFound):
            await run_service.get(session=session, run_id=old_done)
        assert (
            await run_service.get(session=session, run_id=old_running)
        ).status is RunStatus.RUNNING
        nothing = await _clean_up(session, cutoff=utcnow() - timedelta(days=30))
    assert nothing.runs == 0


async def test_operations_are_validated_and_updated_without_a_new_version(
    settings: Settings, tmp_path: Path
) -> None:
    pipeline_id = await _pipeline(settings, tmp_path)
    policy = SourcePolicy.from_settings(settings)
    async with session_scope(settings) as session:
        updated = await pipeline_service.update(
            session=session,
            pipeline_id=pipeline_id,
            spec=None,
            source_id=None,
            actor=None,
            policy=policy,
            operations={"schedule": "30 2 * * *", "timezone": "Europe/Berlin", "concurrency": 2},
        )
        assert (updated.schedule, updated.timezone, updated.concurrency) == (
            "30 2 * * *",
            "Europe/Berlin",
            2,
        )
        assert updated.version == 1
        invalid: list[tuple[dict[str, Any], str]] = [
            ({"schedule": "every day"}, "cron"),
            ({"schedule": "* * * * * *"}, "cron"),
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"concurrency": 0}, "concurrency"),
        ]
        for bad, match in invalid:
            with pytest.raises(InvalidInput, match=match):
                await pipeline_service.update(
                    session=session,
                    pipeline_id=pipeline_id,
                    spec=None,
                    source_id=None,
                    actor=None,
                    policy=policy,
                    operations=bad,
                )
        cleared = await pipeline_service.update(
            session=session,
            pipeline_id=pipeline_id,
            spec=None,
            source_id=None,
            actor=None,
            policy=policy,
            operations={"schedule": ""},
        )
        assert cleared.schedule is None
