"""Start-up chores shared by `dataflow dev` and `dataflow serve`: first admin, demo data."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.analytics.service import close_services as close_analytics
from app.db import dispose_engines, session_scope
from app.etl.sample import write_orders_csv
from app.etl.sources.policy import SourcePolicy
from app.events import close_event_buses
from app.models.pipeline import PipelineCreate
from app.models.run import RunStatus
from app.models.source import SourceCreate
from app.runner import execute_run
from app.services import pipelines as pipeline_service
from app.services import runs as run_service
from app.services import sources as source_service
from app.services import users as user_service

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings
    from app.models.pipeline import Pipeline
    from app.models.run import Run

DEV_ADMIN_EMAIL = "admin@example.com"
DEV_ADMIN_PASSWORD = "dataflow"  # noqa: S105  (dev only, printed at start; never in prod)
DEMO_ROWS = 50_000
DEMO_SEED = 7
DEMO_SOURCE = "demo_orders"
DEMO_PIPELINE = "demo_orders_clean"
DEMO_TABLE = "orders_clean"
# The demo's orders are all dated in this year (app/etl/sample.py); the README's
# Analytics example asks for its first half.
DEMO_YEAR = 2024


@dataclass(frozen=True)
class AdminCredentials:
    email: str
    password: str


def admin_from_environment() -> AdminCredentials | None:
    email = os.environ.get("DATAFLOW_ADMIN_EMAIL")
    password = os.environ.get("DATAFLOW_ADMIN_PASSWORD")
    if email and password:
        return AdminCredentials(email, password)
    return None


async def ensure_first_admin(settings: Settings, credentials: AdminCredentials) -> bool:
    """Create the admin unless one exists; True when it was created now."""
    async with session_scope(settings) as session:
        created = await user_service.ensure_admin(
            session=session, email=credentials.email, password=credentials.password
        )
    return created is not None


def demo_spec() -> dict[str, object]:
    """Cancelled orders dropped, revenue derived, queryable as the dataset `orders_clean`
    (the README's Analytics example asks exactly this dataset)."""
    return {
        "steps": [
            {"filter": "status <> 'cancelled'"},
            {"derive": {"revenue": "quantity * unit_price * (1 - discount)"}},
        ],
        "destination": {"table": DEMO_TABLE, "mode": "replace"},
        "dataset": {
            "time": "order_ts",
            "dimensions": ["country", "category"],
            "measures": {"revenue": "sum(revenue)", "orders": "count(*)"},
        },
    }


async def install_demo(settings: Settings) -> str | None:
    """A sample CSV, a source and a pipeline, loaded once, so that the demo's table and
    dataset answer as soon as the server does; returns what was done (None: nothing)."""
    csv_path = settings.data_dir.resolve() / "demo" / "orders.csv"
    async with session_scope(settings) as session:
        pipeline = await pipeline_service.get_by_name(session=session, name=DEMO_PIPELINE)
    if pipeline is None:
        if not csv_path.exists():
            write_orders_csv(csv_path, rows=DEMO_ROWS, seed=DEMO_SEED)
        pipeline = await _create_demo(settings, csv_path)
    try:
        run = await _first_load(settings, pipeline.id)
    finally:
        await _close_loop_resources()
    if run is None:
        return None
    if run.status is not RunStatus.SUCCEEDED:
        # QUEUED: handed back for another attempt, which the server's reaper will send.
        reason = f": {run.error_code}: {run.error_message}" if run.error_code else ""
        return f"demo pipeline {DEMO_PIPELINE}: its first run {run.id} is {run.status}{reason}"
    return (
        f"demo pipeline {DEMO_PIPELINE} loaded {run.rows_written:,} orders of "
        f"{DEMO_YEAR} into {DEMO_TABLE} (run {run.id})"
    )


async def _create_demo(settings: Settings, csv_path: Path) -> Pipeline:
    policy = SourcePolicy.from_settings(settings)
    async with session_scope(settings) as session:
        source = await source_service.create(
            session=session,
            data=SourceCreate(name=DEMO_SOURCE, kind="csv", uri=str(csv_path), options={}),
            actor=None,
            policy=policy,
        )
        return await pipeline_service.create(
            session=session,
            data=PipelineCreate(name=DEMO_PIPELINE, source_id=source.id, spec=demo_spec()),
            actor=None,
            policy=policy,
        )


async def _first_load(settings: Settings, pipeline_id: str) -> Run | None:
    """Run the demo pipeline here, before the server starts, unless it has run before
    (a start interrupted between creating and loading it loads it now)."""
    async with session_scope(settings) as session:
        (latest,) = await run_service.latest_for_pipelines(
            session=session, pipeline_ids=[pipeline_id]
        )
        if latest is not None:
            return None
        triggered = await run_service.trigger(session=session, pipeline_id=pipeline_id, actor=None)
    run_id = triggered.run.id
    # The code a worker runs; a run handed back for a retry stays QUEUED, and the
    # server's reaper sends it to the in-process workers (a queued run left unclaimed).
    await execute_run(settings=settings, run_id=run_id, worker_id="dev-demo", enqueue=_later)
    async with session_scope(settings) as session:
        return await run_service.get(session=session, run_id=run_id)


async def _later(_run_id: str, _delay_seconds: float) -> None:
    """No broker before the server starts: the reaper resends a queued run."""


async def _close_loop_resources() -> None:
    """This loop ends before the server's starts: close what the load opened on it."""
    await close_analytics()
    await close_event_buses()
    await dispose_engines()
