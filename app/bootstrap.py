"""Start-up chores shared by `dataflow dev` and `dataflow serve`: first admin, demo data."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.db import session_scope
from app.etl.sample import write_orders_csv
from app.etl.sources.policy import SourcePolicy
from app.models.pipeline import PipelineCreate
from app.models.source import SourceCreate
from app.services import pipelines as pipeline_service
from app.services import sources as source_service
from app.services import users as user_service

if TYPE_CHECKING:
    from app.config import Settings

DEV_ADMIN_EMAIL = "admin@example.com"
DEV_ADMIN_PASSWORD = "dataflow"  # noqa: S105  (dev only, printed at start; never in prod)
DEMO_ROWS = 50_000
DEMO_SOURCE = "demo_orders"
DEMO_PIPELINE = "demo_orders_clean"


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
    return {
        "steps": [
            {"filter": "status <> 'cancelled'"},
            {"derive": {"revenue": "quantity * unit_price * (1 - discount)"}},
        ],
        "destination": {"table": "orders_clean", "mode": "replace"},
    }


async def install_demo(settings: Settings) -> str | None:
    """A sample CSV, a source and a pipeline; returns the pipeline id (None if present)."""
    csv_path = settings.data_dir.resolve() / "demo" / "orders.csv"
    async with session_scope(settings) as session:
        if await pipeline_service.get_by_name(session=session, name=DEMO_PIPELINE):
            return None
    if not csv_path.exists():
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        write_orders_csv(csv_path, rows=DEMO_ROWS, seed=7)
    policy = SourcePolicy.from_settings(settings)
    async with session_scope(settings) as session:
        source = await source_service.create(
            session=session,
            data=SourceCreate(name=DEMO_SOURCE, kind="csv", uri=str(csv_path), options={}),
            actor=None,
            policy=policy,
        )
        pipeline = await pipeline_service.create(
            session=session,
            data=PipelineCreate(name=DEMO_PIPELINE, source_id=source.id, spec=demo_spec()),
            actor=None,
            policy=policy,
        )
    return pipeline.id
