"""GraphQL object types, shaped for clients and built from the models by `from_model`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.models.run import RunStatus as ModelRunStatus
from graph.context import Context

if TYPE_CHECKING:
    from app.errors import DataFlowError
    from app.models.pipeline import Pipeline as PipelineModel
    from app.models.run import Run as RunModel
    from app.models.run import RunEvent as RunEventModel
    from app.models.source import Source as SourceModel
    from app.models.user import User as UserModel
    from app.services.pagination import Page

T = TypeVar("T")


@strawberry.enum
class RunStatus(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"

    @classmethod
    def from_model(cls, status: ModelRunStatus) -> RunStatus:
        return cls(status.value)


@strawberry.enum
class Role(Enum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


@strawberry.type
class UserError:
    code: str
    message: str
    path: list[str]

    @classmethod
    def from_error(cls, error: DataFlowError) -> UserError:
        return cls(code=error.code, message=error.message, path=list(error.path))


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def connection(page: Page[Any], nodes: list[T]) -> Connection[T]:
    edges = [
        Edge(cursor=cursor, node=node) for cursor, node in zip(page.cursors, nodes, strict=True)
    ]
    info = PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor)
    return Connection(edges=edges, page_info=info)


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    role: Role
    is_active: bool

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(
            id=strawberry.ID(user.id),
            email=user.email,
            role=Role(user.role.value),
            is_active=user.is_active,
        )


@strawberry.type
class Source:
    id: strawberry.ID
    name: str
    kind: str
    uri: str
    options: JSON
    created_at: datetime

    @classmethod
    def from_model(cls, source: SourceModel) -> Source:
        return cls(
            id=strawberry.ID(source.id),
            name=source.name,
            kind=source.kind,
            uri=source.uri,
            options=JSON(source.options),
            created_at=source.created_at,
        )


@strawberry.type
class Pipeline:
    id: strawberry.ID
    name: str
    spec: JSON
    version: int
    created_at: datetime
    source_id: strawberry.Private[str]

    @strawberry.field
    async def source(self, info: Info[Context, None]) -> Source | None:
        source = await info.context.source_loader().load(self.source_id)
        return Source.from_model(source) if source else None

    @classmethod
    def from_model(cls, pipeline: PipelineModel) -> Pipeline:
        return cls(
            id=strawberry.ID(pipeline.id),
            name=pipeline.name,
            spec=JSON(pipeline.spec),
            version=pipeline.version,
            created_at=pipeline.created_at,
            source_id=pipeline.source_id,
        )


@strawberry.type
class RunError:
    code: str
    message: str


@strawberry.type
class Run:
    id: strawberry.ID
    status: RunStatus
    attempt: int
    stage: str | None
    rows_read: int
    rows_written: int
    rows_rejected: int
    rows_filtered: int
    idempotency_key: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: RunError | None
    pipeline_id: strawberry.Private[str]

    @strawberry.field
    async def pipeline(self, info: Info[Context, None]) -> Pipeline | None:
        pipeline = await info.context.pipeline_loader().load(self.pipeline_id)
        return Pipeline.from_model(pipeline) if pipeline else None

    @classmethod
    def from_model(cls, run: RunModel) -> Run:
        error = None
        if run.error_code is not None:
            error = RunError(code=run.error_code, message=run.error_message or "")
        return cls(
            id=strawberry.ID(run.id),
            status=RunStatus.from_model(run.status),
            attempt=run.attempt,
            stage=run.stage,
            rows_read=run.rows_read,
            rows_written=run.rows_written,
            rows_rejected=run.rows_rejected,
            rows_filtered=run.rows_filtered,
            idempotency_key=run.idempotency_key,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            error=error,
            pipeline_id=run.pipeline_id,
        )


@strawberry.type
class Column:
    name: str
    type: str


@strawberry.type
class TablePreview:
    columns: list[Column]
    rows: JSON = strawberry.field(description="A list of rows, each a list of values.")
    row_count: int


@strawberry.type
class RunEvent:
    id: strawberry.ID = strawberry.field(description="Also the cursor to resume after.")
    run_id: strawberry.ID
    at: datetime
    kind: str
    stage: str | None
    payload: JSON

    @classmethod
    def from_model(cls, event: RunEventModel) -> RunEvent:
        return cls(
            id=strawberry.ID(str(event.id)),
            run_id=strawberry.ID(event.run_id),
            at=event.created_at,
            kind=event.kind,
            stage=event.stage,
            payload=JSON(event.payload),
        )
