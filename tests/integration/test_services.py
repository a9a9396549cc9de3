"""Services against a real database: SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from app.db import session_scope
from app.errors import (
    AlreadyExists,
    InvalidInput,
    InvalidTransition,
    PipelineNotFound,
    RunNotFound,
    SourceNotFound,
    Unauthenticated,
)
from app.etl.errors import TableNotFound
from app.etl.sources.policy import SourcePolicy
from app.models.pipeline import PipelineCreate
from app.models.run import RunStatus
from app.models.source import Source, SourceCreate
from app.models.user import Role, User, UserCreate
from app.services import leases
from app.services import pipelines as pipeline_service
from app.services import runs as run_service
from app.services import sources as source_service
from app.services import tables as table_service
from app.services import users as user_service
from app.services.pagination import MAX_PAGE_SIZE
from tests import factories

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def settings(request: pytest.FixtureRequest) -> Settings:
    name = "embedded_settings" if request.param == "sqlite" else "service_settings"
    settings: Settings = request.getfixturevalue(name)
    return settings


async def test_users_create_authenticate_and_first_admin(settings: Settings) -> None:
    email = f"{factories.unique('Ada')}@Example.com"
    async with session_scope(settings) as session:
        user = await user_service.create(
            session=session, data=UserCreate(email=email, password="long-enough-1")
        )
        assert user.email == email.lower()
        assert user.role is Role.VIEWER
        with pytest.raises(AlreadyExists):
            await user_service.create(
                session=session, data=UserCreate(email=email.upper(), password="another-one")
            )
    async with session_scope(settings) as session:
        found = await user_service.authenticate(
            session=session, email=email, password="long-enough-1"
        )
        assert found.id == user.id
        assert (await user_service.get(session=session, user_id=user.id)).email == user.email
        for wrong_email, password in [(email, "wrong-password"), ("nobody@x.org", "whatever1")]:
            with pytest.raises(Unauthenticated, match="wrong e-mail or password"):
                await user_service.authenticate(
                    session=session, email=wrong_email, password=password
                )
        found.is_active = False  # attached: committed when the scope ends
    async with session_scope(settings) as session:
        with pytest.raises(Unauthenticated):
            await user_service.authenticate(session=session, email=email, password="long-enough-1")
        with pytest.raises(Exception, match="does not exist"):
            await user_service.get(session=session, user_id="missing")


async def test_ensure_admin_creates_only_the_first(embedded_settings: Settings) -> None:
    async with session_scope(embedded_settings) as session:
        first = await user_service.ensure_admin(
            session=session, email="root@example.com", password="first-admin-pw"
        )
        assert first is not None
        assert first.role is Role.ADMIN
        second = await user_service.ensure_admin(
            session=session, email="other@example.com", password="second-admin-pw"
        )
        assert second is None
        assert await user_service.get_by_email(session=session, email="other@example.com") is None


async def test_sources_and_pipelines(settings: Settings, tmp_path: Path) -> None:
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(3))
    source = await factories.make_source(settings, csv_path)
    async with session_scope(settings) as session:
        with pytest.raises(AlreadyExists):
            await source_service.create(
                session=session,
                data=SourceCreate(name=source.name, kind="csv", uri=str(csv_path)),
                actor=None,
                policy=SourcePolicy.from_settings(settings),
            )
    async with session_scope(settings) as session:
        with pytest.raises(SourceNotFound):
            await source_service.get(session=session, source_id="missing")
        found = await source_service.get_many(session=session, source_ids=[source.id, "missing"])
        assert [(s.id, s.name, s.uri) if s else None for s in found] == [
            (source.id, source.name, source.uri),
            None,
        ]

    pipeline = await factories.make_pipeline(settings, source, factories.orders_spec("t1"))
    async with session_scope(settings) as session:
        duplicate = PipelineCreate(
            name=pipeline.name, source_id=source.id, spec=factories.orders_spec("t2")
        )
        with pytest.raises(AlreadyExists):
            await pipeline_service.create(
                session=session, data=duplicate, actor=None, policy=SourcePolicy((tmp_path,))
            )
        orphan = PipelineCreate(name="orphan", source_id="missing", spec=pipeline.spec)
        with pytest.raises(SourceNotFound):
            await pipeline_service.create(
                session=session, data=orphan, actor=None, policy=SourcePolicy((tmp_path,))
            )
        with pytest.raises(PipelineNotFound):
            await pipeline_service.get(session=session, pipeline_id="missing")
        loaded = await pipeline_service.get_many(
            session=session, pipeline_ids=["missing", pipeline.id]
        )
        assert [p.id if p else None for p in loaded] == [None, pipeline.id]


async def test_record_reads_see_the_sessions_own_unflushed_changes(
    settings: Settings, tmp_path: Path
) -> None:
    """Record reads go past the ORM, so they must flush first, as its autoflush would."""
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(1))
    async with session_scope(settings) as session:
        pending = Source(name=f"pending_{uuid.uuid4().hex[:8]}", kind="csv", uri=str(csv_path))
        session.add(pending)
        page = await source_service.list_page(session=session, first=1)
        found = await source_service.get_many(session=session, source_ids=[pending.id])
        # Newest first, so the pending source heads the page even in a shared database.
        assert [row.id for row in page.items] == [pending.id]
        assert [row.id if row else None for row in found] == [pending.id]
        assert page.end_cursor is not None
        pending.name = new_name = f"{pending.name}_renamed"
        renamed = await source_service.get_many(session=session, source_ids=[pending.id])
        assert [row.name if row else None for row in renamed] == [new_name]


async def test_timestamps_come_back_aware_and_in_utc(settings: Settings, tmp_path: Path) -> None:
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(1))
    written = datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    async with session_scope(settings) as session:
        name = f"stamped_{uuid.uuid4().hex[:8]}"
        source = Source(name=name, kind="csv", uri=str(csv_path), created_at=written)
        session.add(source)
    async with session_scope(settings) as session:
        [record] = await source_service.get_many(session=session, source_ids=[source.id])
        instance = await source_service.get(session=session, source_id=source.id)
    for stamp in (record.created_at if record else None, instance.created_at):
        assert stamp == written
        assert stamp is not None
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == timedelta(0)


async def test_a_pipeline_may_be_defined_before_its_file_exists(
    settings: Settings, tmp_path: Path
) -> None:
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(1))
    source = await factories.make_source(settings, csv_path)
    csv_path.unlink()
    pipeline = await factories.make_pipeline(settings, source, factories.orders_spec("later"))
    assert pipeline.version == 1


async def test_runs_trigger_claim_and_finish_are_fenced(settings: Settings, tmp_path: Path) -> None:
    source = await factories.make_source(
        settings, factories.write_csv(tmp_path, factories.orders_rows(2))
    )
    pipeline = await factories.make_pipeline(settings, source, factories.orders_spec("fenced"))
    async with session_scope(settings) as session:
        with pytest.raises(InvalidInput, match="idempotencyKey"):
            await run_service.trigger(
                session=session, pipeline_id=pipeline.id, actor=None, idempotency_key="x" * 200
            )
        run = (await run_service.trigger(session=session, pipeline_id=pipeline.id, actor=None)).run
    async with session_scope(settings) as session:
        claimed = (
            await leases.claim(session=session, settings=settings, run_id=run.id, worker_id="w1")
        ).run
        assert claimed is not None
        assert claimed.status is RunStatus.RUNNING
        assert claimed.worker_id == "w1"
        second = await leases.claim(
            session=session, settings=settings, run_id=run.id, worker_id="w2"
        )
        assert second.run is None
        stale = await run_service.record_progress(
            session=session, run_id=run.id, attempt=2, values={"rows_read": 9}
        )
        assert stale is None
        with pytest.raises(ValueError, match="not a terminal status"):
            await run_service.finish(
                session=session, run_id=run.id, attempt=1, status=RunStatus.RUNNING, values={}
            )
        assert await run_service.finish(
            session=session, run_id=run.id, attempt=1, status=RunStatus.SUCCEEDED, values={}
        )
        assert (
            await run_service.finish(
                session=session, run_id=run.id, attempt=1, status=RunStatus.FAILED, values={}
            )
            is None
        )
    async with session_scope(settings) as session:
        done = await run_service.get(session=session, run_id=run.id)
        assert done.status is RunStatus.SUCCEEDED
        assert done.finished_at is not None
        assert done.rows_read == 0
        with pytest.raises(RunNotFound):
            await run_service.get(session=session, run_id="missing")


async def test_pages_follow_cursors_without_gaps_or_repeats(
    embedded_settings: Settings, tmp_path: Path
) -> None:
    source = await factories.make_source(
        embedded_settings, factories.write_csv(tmp_path, factories.orders_rows(2))
    )
    pipeline = await factories.make_pipeline(embedded_settings, source, factories.orders_spec("p"))
    async with session_scope(embedded_settings) as session:
        made = [
            (await run_service.trigger(session=session, pipeline_id=pipeline.id, actor=None)).run.id
            for _ in range(7)
        ]
    seen: list[str] = []
    after = None
    async with session_scope(embedded_settings) as session:
        while True:
            page = await run_service.list_page(session=session, first=3, after=after)
            seen += [run.id for run in page.items]
            if not page.has_next_page:
                break
            after = page.end_cursor
        assert sorted(seen) == sorted(made)
        assert len(seen) == len(set(seen))
        for bad in (0, MAX_PAGE_SIZE + 1):
            with pytest.raises(InvalidInput, match="first must be"):
                await run_service.list_page(session=session, first=bad)
        with pytest.raises(InvalidInput, match="cursor"):
            await run_service.list_page(session=session, after="not!a!cursor")
        oldest_first = await source_service.list_page(session=session)
        assert [s.id for s in oldest_first.items] == [source.id]


async def test_table_preview_bounds_and_missing_tables(embedded_settings: Settings) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        await table_service.preview(settings=embedded_settings, table="t", limit=0)
    with pytest.raises(TableNotFound):
        await table_service.preview(settings=embedded_settings, table="never_loaded", limit=5)


def test_user_model_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert User(email="a@b.c", password_hash="x").role is Role.VIEWER


async def _queued_run(settings: Settings, tmp_path: Path) -> tuple[str, str]:
    source = await factories.make_source(
        settings, factories.write_csv(tmp_path, factories.orders_rows(2))
    )
    pipeline = await factories.make_pipeline(settings, source, factories.orders_spec("cr"))
    async with session_scope(settings) as session:
        triggered = await run_service.trigger(session=session, pipeline_id=pipeline.id, actor=None)
    return pipeline.id, triggered.run.id


async def test_cancel_and_retry_follow_the_state_machine(
    settings: Settings, tmp_path: Path
) -> None:
    _, queued = await _queued_run(settings, tmp_path)
    async with session_scope(settings) as session:
        cancelled = await run_service.cancel(session=session, run_id=queued)
        assert cancelled.run.status is RunStatus.CANCELLED
        assert [e.event.kind for e in cancelled.events] == ["run_finished"]
        with pytest.raises(InvalidTransition, match="only queued or running"):
            await run_service.cancel(session=session, run_id=queued)
        again = await run_service.retry(session=session, run_id=queued)
        assert (again.run.status, again.run.attempt) == (RunStatus.QUEUED, 2)
        with pytest.raises(InvalidTransition, match="only failed or cancelled"):
            await run_service.retry(session=session, run_id=queued)

    _, running = await _queued_run(settings, tmp_path)
    async with session_scope(settings) as session:
        await leases.claim(session=session, settings=settings, run_id=running, worker_id="w")
        asked = await run_service.cancel(session=session, run_id=running)
        assert asked.run.status is RunStatus.CANCELLING
        twice = await run_service.cancel(session=session, run_id=running)
        assert (twice.run.status, twice.events) == (RunStatus.CANCELLING, [])
        # The worker's next progress write is refused: that is how it learns to stop.
        refused = await run_service.record_progress(
            session=session, run_id=running, attempt=1, values={}
        )
        assert refused is None
        late = await run_service.record_progress(
            session=session, run_id=running, attempt=1, values={}, while_cancelling=True
        )
        assert late is not None
        ended = await run_service.finish(
            session=session, run_id=running, attempt=1, status=RunStatus.CANCELLED, values={}
        )
        assert ended is not None
        assert ended.status is RunStatus.CANCELLED


async def test_runs_filter_and_latest_per_pipeline(settings: Settings, tmp_path: Path) -> None:
    first_pipeline, first_run = await _queued_run(settings, tmp_path)
    second_pipeline, second_run = await _queued_run(settings, tmp_path)
    async with session_scope(settings) as session:
        await run_service.cancel(session=session, run_id=second_run)
        mine = await run_service.list_page(
            session=session, where=run_service.RunFilter(pipeline_id=first_pipeline)
        )
        assert [run.id for run in mine.items] == [first_run]
        cancelled = await run_service.list_page(
            session=session,
            where=run_service.RunFilter(
                pipeline_id=second_pipeline, statuses=[RunStatus.CANCELLED]
            ),
        )
        assert [run.id for run in cancelled.items] == [second_run]
        created = (await run_service.get(session=session, run_id=first_run)).created_at
        window = run_service.RunFilter(
            pipeline_id=first_pipeline, created_after=created, created_before=created
        )
        assert (await run_service.list_page(session=session, where=window)).items == []
        latest = await run_service.latest_for_pipelines(
            session=session, pipeline_ids=[second_pipeline, "none", first_pipeline]
        )
        assert [run.id if run else None for run in latest] == [second_run, None, first_run]


async def test_sources_update_and_delete(settings: Settings, tmp_path: Path) -> None:
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(3))
    other = await factories.make_source(settings, csv_path)
    source = await factories.make_source(settings, csv_path)
    roots = SourcePolicy.from_settings(settings)
    async with session_scope(settings) as session:
        renamed = await source_service.update(
            session=session,
            source_id=source.id,
            changes={"name": f"{source.name}_v2", "options": {"delimiter": ","}},
            policy=roots,
        )
        assert renamed.name == f"{source.name}_v2"
        assert renamed.options == {"delimiter": ","}
        with pytest.raises(AlreadyExists):
            await source_service.update(
                session=session,
                source_id=source.id,
                changes={"name": other.name},
                policy=roots,
            )
        with pytest.raises(InvalidInput, match="name"):
            await source_service.update(
                session=session,
                source_id=source.id,
                changes={"name": "bad name!"},
                policy=roots,
            )
    pipeline = await factories.make_pipeline(settings, source, factories.orders_spec("uses"))
    async with session_scope(settings) as session:
        with pytest.raises(source_service.SourceInUse, match="used by 1 pipeline"):
            await source_service.delete(session=session, source_id=source.id)
        await pipeline_service.delete(session=session, pipeline_id=pipeline.id)
        deleted = await source_service.delete(session=session, source_id=source.id)
        assert deleted.deleted_at is not None
        with pytest.raises(SourceNotFound):
            await source_service.get(session=session, source_id=source.id)
    # The name is free again.
    async with session_scope(settings) as session:
        again = await source_service.create(
            session=session,
            data=SourceCreate(name=f"{source.name}_v2", kind="csv", uri=str(csv_path)),
            actor=None,
            policy=roots,
        )
        assert again.id != source.id


async def test_a_pipeline_update_that_changes_nothing_keeps_its_version(
    settings: Settings, tmp_path: Path
) -> None:
    source = await factories.make_source(
        settings, factories.write_csv(tmp_path, factories.orders_rows(2))
    )
    pipeline = await factories.make_pipeline(settings, source, factories.orders_spec("same"))
    async with session_scope(settings) as session:
        same = await pipeline_service.update(
            session=session,
            pipeline_id=pipeline.id,
            spec=None,
            source_id=None,
            actor=None,
            policy=SourcePolicy.from_settings(settings),
        )
        assert same.version == 1
        assert [
            v.version
            for v in await pipeline_service.versions(session=session, pipeline_id=pipeline.id)
        ] == [1]
