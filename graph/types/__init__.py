"""GraphQL object types, shaped for clients and built from the models by `from_model`."""

from __future__ import annotations

from graph.types.catalog import Pipeline, PipelineVersion, Source
from graph.types.common import Column, Connection, Edge, PageInfo, UserError, connection
from graph.types.runs import Run, RunError, RunEvent, RunStatus, parse_event_cursor
from graph.types.tables import TablePreview
from graph.types.users import ApiKey, Role, User

__all__ = [
    "ApiKey",
    "Column",
    "Connection",
    "Edge",
    "PageInfo",
    "Pipeline",
    "PipelineVersion",
    "Role",
    "Run",
    "RunError",
    "RunEvent",
    "RunStatus",
    "Source",
    "TablePreview",
    "User",
    "UserError",
    "connection",
    "parse_event_cursor",
]
