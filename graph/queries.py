"""Read-side fields: sources, pipelines, runs (connections) and a run by id."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON
from strawberry.types import Info

from app.db import session_scope
from app.errors import DataFlowError, RunNotFound
from app.services import pipelines as pipeline_service
from app.services import runs as run_service
from app.services import sources as source_service
from app.services import tables as table_service
from graph.context import Context
from graph.permissions import IsViewer
from graph.types import (
    Column,
    Connection,
    Pipeline,
    Run,
    Source,
    TablePreview,
    User,
    connection,
)


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[IsViewer])
    async def me(self, info: Info[Context, None]) -> User | None:
        user = await info.context.user()
        return User.from_model(user) if user else None

    @strawberry.field(permission_classes=[IsViewer])
    async def sources(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[Source]:
        async with session_scope(info.context.settings) as session:
            page = await source_service.list_page(session=session, first=first, after=after)
        return connection(page, [Source.from_model(row) for row in page.items])

    @strawberry.field(permission_classes=[IsViewer])
    async def pipelines(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[Pipeline]:
        async with session_scope(info.context.settings) as session:
            page = await pipeline_service.list_page(session=session, first=first, after=after)
        return connection(page, [Pipeline.from_model(row) for row in page.items])

    @strawberry.field(permission_classes=[IsViewer])
    async def runs(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[Run]:
        async with session_scope(info.context.settings) as session:
            page = await run_service.list_page(session=session, first=first, after=after)
        return connection(page, [Run.from_model(row) for row in page.items])

    @strawberry.field(permission_classes=[IsViewer])
    async def table_preview(
        self, info: Info[Context, None], table: str, limit: int = 20
    ) -> TablePreview:
        """The first rows of a loaded warehouse table, with its columns and row count."""
        try:
            result = await table_service.preview(
                settings=info.context.settings, table=table, limit=limit
            )
        except DataFlowError as error:
            raise GraphQLError(error.message, extensions={"code": error.code}) from None
        columns = [Column(name=name, type=dtype) for name, dtype in result.columns]
        return TablePreview(columns=columns, rows=JSON(result.rows), row_count=result.row_count)

    @strawberry.field(permission_classes=[IsViewer])
    async def run(self, info: Info[Context, None], id: strawberry.ID) -> Run | None:
        async with session_scope(info.context.settings) as session:
            try:
                return Run.from_model(await run_service.get(session=session, run_id=id))
            except RunNotFound:
                return None
