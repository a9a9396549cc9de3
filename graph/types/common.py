"""Shapes every part of the schema shares: typed user errors and connections."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import strawberry

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from strawberry.types import Info

    from app.errors import DataFlowError
    from app.services.pagination import Page

T = TypeVar("T")


@strawberry.type(description="An expected failure: `code` is stable, `path` points at the input.")
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
    pairs = zip(page.cursors, nodes, strict=True)
    edges = [Edge(cursor=cursor, node=node) for cursor, node in pairs]
    info = PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor)
    return Connection(edges=edges, page_info=info)


@strawberry.type
class Column:
    name: str
    type: str


def deferred(awaitable: Awaitable[T]) -> T:
    """Return an awaitable from a sync resolver: graphql-core awaits it. Lets a field be
    answered at once when prefetched, and loaded only when it was not. (Typed as the
    value, because that is what the client receives.)"""
    return cast("T", awaitable)


def selects(info: Info[Any, Any], name: str) -> bool:
    """Whether the query asks for field `name` anywhere below the current field."""

    def search(selections: list[Any]) -> bool:
        return any(
            getattr(item, "name", None) == name or search(getattr(item, "selections", []))
            for item in selections
        )

    return search(info.selected_fields)
