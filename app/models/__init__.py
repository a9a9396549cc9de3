"""All table models, imported here so SQLModel.metadata knows every table."""

from __future__ import annotations

from app.models.api_key import ApiKey
from app.models.backfill import Backfill, BackfillStep
from app.models.dataset import Dataset
from app.models.pipeline import Pipeline, PipelineCreate
from app.models.pipeline_version import PipelineVersion
from app.models.run import TERMINAL_STATUSES, Run, RunEvent, RunStatus
from app.models.source import Source, SourceCreate
from app.models.user import Role, User, UserCreate

__all__ = [
    "TERMINAL_STATUSES",
    "ApiKey",
    "Backfill",
    "BackfillStep",
    "Dataset",
    "Pipeline",
    "PipelineCreate",
    "PipelineVersion",
    "Role",
    "Run",
    "RunEvent",
    "RunStatus",
    "Source",
    "SourceCreate",
    "User",
    "UserCreate",
]
