"""Shapes every part of the schema shares: typed user errors and connections."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

import strawberry

if TYPE_CHECKING:
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
