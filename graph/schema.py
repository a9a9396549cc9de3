"""The one GraphQL schema: queries, mutations, subscriptions, and its safety extensions."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from graph.analytics import AnalyticsQuery
from graph.extensions import DataFlowSchema, MaskAndLogErrors, TypedRequestErrors
from graph.mutations import Mutation
from graph.queries import Query as CoreQuery
from graph.scalars import SCALARS
from graph.sharing import SharingExecutor
from graph.subscriptions import Subscription

Query = merge_types("Query", (CoreQuery, AnalyticsQuery))

MAX_QUERY_DEPTH = 12
MAX_TOKENS = 2000
MAX_ALIASES = 30


# The depth and alias limiters each build a new rule class per instance; the validation
# cache keys on the rule classes, so they are built once here and shared by every request
# (otherwise no document would ever be found in the cache).
_LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]


class QueryLimits(AddValidationRules):
    def __init__(self) -> None:
        super().__init__(_LIMIT_RULES)


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    # Factories, not instances: Strawberry builds fresh extensions for every request.
    extensions: list[Callable[[], SchemaExtension]] = [
        QueryLimits,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        # Dashboards send the same few documents over and over: parse and validate once.
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        MaskAndLogErrors,
        # After the masking: hooks unwind last-in first-out, so a parse error has its
        # code before it is logged.
        TypedRequestErrors,
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return DataFlowSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        # Planned completion (graph/execution.py), sharing each subscription event's
        # result among the subscribers asking the same of it (graph/sharing.py).
        execution_context_class=SharingExecutor,
        # Without introspection, error messages do not suggest the schema's names either.
        config=StrawberryConfig(scalar_map=SCALARS, disable_field_suggestions=not introspection),
    )
