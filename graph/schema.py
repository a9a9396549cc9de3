"""The one GraphQL schema: queries, mutations, subscriptions, and its safety extensions."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaskErrors, QueryDepthLimiter
from strawberry.extensions.base_extension import SchemaExtension

from app.errors import DataFlowError
from graph.mutations import Mutation
from graph.queries import Query
from graph.subscriptions import Subscription

MAX_QUERY_DEPTH = 12


def should_mask(error: GraphQLError) -> bool:
    """Hide unexpected failures; expected ones carry a code clients can act on."""
    original = error.original_error
    if original is None or isinstance(original, DataFlowError):
        return False
    if isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
        return False
    return not (error.extensions or {}).get("code")


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    # Factories, not instances: Strawberry builds fresh extensions for every request.
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH),
        lambda: MaskErrors(should_mask_error=should_mask, error_message="internal error"),
    ]
    if not introspection:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    return strawberry.Schema(
        query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions
    )
