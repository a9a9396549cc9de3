"""Test data through the services, the way the product itself makes it."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from app.db import session_scope
from app.etl.sources.policy import SourcePolicy
from app.models.pipeline import Pipeline, PipelineCreate
from app.models.source import Source, SourceCreate
from app.models.user import Role, User, UserCreate
from app.security import create_access_token
from app.services import pipelines as pipeline_service
from app.services import sources as source_service
from app.services import users as user_service

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings

ORDERS_HEADER = "order_id,status,quantity,unit_price"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def write_csv(directory: Path, rows: list[str], header: str = ORDERS_HEADER) -> Path:
    path = directory / f"{unique('data')}.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def orders_rows(count: int) -> list[str]:
    """order i: status cancelled when i % 4 == 0, quantity i % 5 + 1, price i * 1.5."""
    statuses = ["cancelled", "paid", "shipped", "paid"]
    return [f"{i},{statuses[i % 4]},{i % 5 + 1},{i * 1.5}" for i in range(1, count + 1)]


async def make_user(settings: Settings, role: Role = Role.OPERATOR) -> tuple[User, str]:
    data = UserCreate(email=f"{unique('user')}@example.com", password="s3cret-pass", role=role)
    async with session_scope(settings) as session:
        user = await user_service.create(session=session, data=data)
    token = create_access_token(user_id=user.id, role=user.role, settings=settings)
    return user, token


async def make_source(settings: Settings, path: Path, **options: Any) -> Source:
    data = SourceCreate(name=unique("src"), kind="csv", uri=str(path), options=options)
    async with session_scope(settings) as session:
        return await source_service.create(
            session=session, data=data, actor=None, policy=SourcePolicy.from_settings(settings)
        )


def orders_spec(table: str, mode: str = "append") -> dict[str, Any]:
    return {
        "steps": [
            {"filter": "status <> 'cancelled'"},
            {"derive": {"revenue": "quantity * unit_price"}},
        ],
        "destination": {"table": table, "mode": mode},
    }


async def make_pipeline(settings: Settings, source: Source, spec: dict[str, Any]) -> Pipeline:
    data = PipelineCreate(name=unique("pipe"), source_id=source.id, spec=spec)
    async with session_scope(settings) as session:
        return await pipeline_service.create(
            session=session, data=data, actor=None, policy=SourcePolicy.from_settings(settings)
        )
