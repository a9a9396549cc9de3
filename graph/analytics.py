"""Analytics fields: `datasets` and `analytics`, merged into the root Query type."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app.analytics import service as analytics_service
from app.analytics.scope import Scope, scope_of
from app.errors import DataFlowError
from app.models.user import Role
from app.services import row_access
from graph.context import Context
from graph.permissions import IsViewer, require_role
from graph.scalars import Long
from graph.types.analytics import AnalyticsQueryInput, AnalyticsResult, Dataset
from graph.types.common import selects


def analytics_error(error: DataFlowError) -> GraphQLError:
    extensions: dict[str, object] = {"code": error.code}
    if error.path:
        extensions["inputPath"] = error.path
    # The client's words for it; the error itself stays attached for the log.
    return GraphQLError(error.client_message, extensions=extensions, original_error=error)


async def caller_scope(info: Info[Context, None]) -> Scope:
    """The caller's analytics scope (their own, narrowed by their API key's)."""
    await require_role(info.context, Role.VIEWER)
    caller = await info.context.caller()
    assert caller is not None  # require_role refuses anonymous callers
    return scope_of(caller)


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(
        permission_classes=[IsViewer], description="The datasets you can query, by name."
    )
    async def datasets(self, info: Info[Context, None]) -> list[Dataset]:
        try:
            scope = await caller_scope(info)
            found = await analytics_service.list_datasets(
                settings=info.context.settings, scope=scope
            )
            datasets = [Dataset.from_info(dataset) for dataset in found]
            if scope and selects(info, "rowCount"):
                # A scoped caller's counts are of the rows within their scope.
                counts = await row_access.count_rows(
                    settings=info.context.settings,
                    tables=[dataset.table for dataset in found],
                    scope=scope,
                )
                for shown, dataset in zip(datasets, found, strict=True):
                    shown.row_count = Long(counts.get(dataset.table, 0))
        except DataFlowError as error:
            raise analytics_error(error) from None
        return datasets

    @strawberry.field(
        permission_classes=[IsViewer],
        description="Measures by dimensions (and a time granularity) over one dataset.",
    )
    async def analytics(
        self, info: Info[Context, None], query: AnalyticsQueryInput
    ) -> AnalyticsResult:
        try:
            scope = await caller_scope(info)
            result = await analytics_service.run_query(
                settings=info.context.settings, query=query.to_query(), scope=scope
            )
        except DataFlowError as error:
            raise analytics_error(error) from None
        return AnalyticsResult.from_result(result)
