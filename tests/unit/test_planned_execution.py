"""The planned executor answers exactly as graphql-core does: same data, same errors,
same paths, for every shape of query (fragments, aliases, directives, nulls, lists)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.scalars import JSON
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.unset import UNSET, UnsetType

from graph.execution import PlannedExecutionContext, prefetched

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from graphql import GraphQLResolveInfo


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Leaf:
    name: str
    colour: Colour
    at: datetime
    data: JSON
    maybe: int | None
    # Declared non-null, but some test rows hold None: graphql-core's error must show.
    strict: int


def _loaded_leaf(root: Node) -> Leaf | None:
    # The contract of a prefetched field: the attached value when there is one.
    if not isinstance(root.loaded_leaf, UnsetType):
        return root.loaded_leaf
    return Leaf(name="resolved", colour=Colour.BLUE, at=_AT, data=JSON({}), maybe=None, strict=0)


@strawberry.type
class Node:
    id: strawberry.ID
    leaves: list[Leaf]
    optional_leaves: list[Leaf | None] | None
    loaded_leaf: strawberry.Private[Leaf | UnsetType | None] = UNSET
    # `resolver=` rather than `@strawberry.field(...)`, which mypy sees as untyped.
    leaf: Leaf | None = strawberry.field(resolver=_loaded_leaf, metadata=prefetched("loaded_leaf"))

    @strawberry.field
    def shout(self, word: str) -> str:
        return word.upper()


_AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _leaf(index: int, *, strict: int | None = 1) -> Leaf:
    return Leaf(
        name=f"leaf {index}",
        colour=Colour.RED if index % 2 else Colour.BLUE,
        at=_AT,
        data=JSON({"n": index, "list": [index, "x"]}),
        maybe=index if index % 3 else None,
        strict=strict,  # type: ignore[arg-type]
    )


def _nodes(*, broken: bool = False, prefetch: bool = True) -> list[Node]:
    nodes = []
    for index in range(4):
        leaves = [_leaf(index * 10 + k) for k in range(3)]
        optional: list[Leaf | None] = [None, leaves[0]]
        if broken and index == 2:
            leaves[1] = _leaf(99, strict=None)
            optional[1] = leaves[1]
        node = Node(id=strawberry.ID(str(index)), leaves=leaves, optional_leaves=optional)
        if prefetch:
            node.loaded_leaf = _leaf(500 + index) if index != 1 else None
        nodes.append(node)
    return nodes


class _FailsWhenIterated(list[Leaf]):
    """A list the planner reads differently from graphql-core's walk: its iteration
    raises, an exception the planner does not expect (so it stands for a planner bug)."""

    def __iter__(self) -> Iterator[Leaf]:
        raise RuntimeError("this list cannot be iterated")


def _schema(
    execution_context_class: Any, extensions: list[Callable[[], SchemaExtension]] | None = None
) -> strawberry.Schema:
    @strawberry.type
    class Query:
        @strawberry.field
        async def nodes(self, broken: bool = False, prefetch: bool = True) -> list[Node]:
            return _nodes(broken=broken, prefetch=prefetch)

        @strawberry.field
        def strict_nodes(self, broken: bool = False) -> list[Node]:
            return _nodes(broken=broken)

        @strawberry.field
        def troubled_nodes(self) -> list[Node | None]:
            nodes = _nodes()
            nodes[1].leaves = _FailsWhenIterated(nodes[1].leaves)
            return list(nodes)

    return strawberry.Schema(
        query=Query, execution_context_class=execution_context_class, extensions=extensions or []
    )


REFERENCE_CLASS = StrawberryGraphQLCoreExecutionContext
PLANNED = _schema(PlannedExecutionContext)
REFERENCE = _schema(REFERENCE_CLASS)

QUERIES = {
    "plain": "{ nodes { id leaves { name colour at data maybe strict } } }",
    "aliases and typename": "{ nodes { __typename key: id l: leaves { n: name __typename } } }",
    "fragments": """
        query { nodes { ...N } }
        fragment N on Node { id leaves { ...L } optionalLeaves { ...L } }
        fragment L on Leaf { name colour }""",
    "inline fragment and repeated field": "{ nodes { id ... on Node { id leaves { name } } } }",
    "directives": """query($skip: Boolean!, $keep: Boolean!) {
        nodes { id @skip(if: $skip) leaves @include(if: $keep) { name maybe } } }""",
    "null in a non-null field": "{ nodes(broken: true) { id leaves { name strict } } }",
    "null bubbles through lists": "{ strictNodes(broken: true) { id leaves { strict } } }",
    "null stops at a nullable item": "{ nodes(broken: true) { optionalLeaves { strict } } }",
    "prefetched field": "{ nodes { id leaf { name colour } } }",
    "prefetched field not prefetched": "{ nodes(prefetch: false) { id leaf { name } } }",
    "a field with arguments": '{ nodes { id shout(word: "hi") leaves { name } } }',
    "nullable list items": "{ nodes { optionalLeaves { name at } } }",
}


@pytest.mark.parametrize("name", sorted(QUERIES))
async def test_planned_execution_answers_as_graphql_core(name: str) -> None:
    variables = {"skip": True, "keep": True}
    planned = await PLANNED.execute(QUERIES[name], variable_values=variables)
    reference = await REFERENCE.execute(QUERIES[name], variable_values=variables)

    assert planned.data == reference.data
    assert [(e.message, e.path) for e in planned.errors or []] == [
        (e.message, e.path) for e in reference.errors or []
    ]


async def test_prefetched_values_are_used_and_others_resolved() -> None:
    with_prefetch = await PLANNED.execute("{ nodes { leaf { name } } }")
    without = await PLANNED.execute("{ nodes(prefetch: false) { leaf { name } } }")

    assert with_prefetch.data == {
        "nodes": [
            {"leaf": {"name": "leaf 500"}},
            {"leaf": None},
            {"leaf": {"name": "leaf 502"}},
            {"leaf": {"name": "leaf 503"}},
        ]
    }
    assert without.data == {"nodes": [{"leaf": {"name": "resolved"}}] * 4}


async def test_a_broken_row_reports_the_error_at_its_path() -> None:
    result = await PLANNED.execute("{ nodes(broken: true) { id optionalLeaves { strict } } }")

    assert result.errors is not None
    assert [error.path for error in result.errors] == [["nodes", 2, "optionalLeaves", 1, "strict"]]
    assert result.data is not None
    assert result.data["nodes"][2]["optionalLeaves"] == [None, None]
    assert result.data["nodes"][3]["optionalLeaves"] == [None, {"strict": 1}]


async def test_a_planner_failure_is_logged_once_and_answered_by_graphql_core(
    caplog: pytest.LogCaptureFixture,
) -> None:
    query = "{ troubledNodes { id leaves { name } } }"
    reference = await REFERENCE.execute(query)
    with caplog.at_level(logging.WARNING, logger="graph.execution"):
        first = await PLANNED.execute(query)
        again = await PLANNED.execute(query)

    for planned in (first, again):
        assert planned.data == reference.data
        assert [(e.message, e.path) for e in planned.errors or []] == [
            (e.message, e.path) for e in reference.errors or []
        ]
    failures = [r for r in caplog.records if r.name == "graph.execution"]
    assert len(failures) == 1  # once per query shape, not once per request
    assert failures[0].levelno == logging.WARNING
    assert "RuntimeError: this list cannot be iterated" in failures[0].getMessage()


class _SeesEveryField(SchemaExtension):
    """A resolve hook, as tracing extensions (Sentry's, OpenTelemetry's) have."""

    seen: list[str]

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        self.seen.append(".".join(str(key) for key in info.path.as_list()))
        return _next(root, info, *args, **kwargs)


async def test_a_resolve_hook_extension_sees_the_planned_fields_too() -> None:
    def run_with(execution_context_class: Any) -> Callable[[], SchemaExtension]:
        def make() -> SchemaExtension:
            extension = _SeesEveryField()
            extension.seen = seen[execution_context_class]
            return extension

        return make

    seen: dict[Any, list[str]] = {PlannedExecutionContext: [], REFERENCE_CLASS: []}
    query = "{ nodes { id leaves { name colour } leaf { name } } }"
    planned = _schema(PlannedExecutionContext, [run_with(PlannedExecutionContext)])
    reference = _schema(REFERENCE_CLASS, [run_with(REFERENCE_CLASS)])

    planned_result = await planned.execute(query)
    reference_result = await reference.execute(query)

    assert planned_result.data == reference_result.data
    assert "nodes.2.leaves.1.colour" in seen[REFERENCE_CLASS]
    assert sorted(seen[PlannedExecutionContext]) == sorted(seen[REFERENCE_CLASS])


async def test_a_value_left_to_graphql_core_is_seen_in_the_debug_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="graph.execution"):
        result = await PLANNED.execute("{ nodes(broken: true) { leaves { strict name } } }")

    assert result.errors is not None  # graphql-core's own error for the null
    records = [r for r in caplog.records if r.name == "graph.execution"]
    assert {r.levelno for r in records} == {logging.DEBUG}  # expected: no warning
    assert any("a null in a non-null field" in r.getMessage() for r in records)
