"""A faster completion of plain subtrees: the result of a field whose whole selection is
attribute reads (no resolvers, arguments, abstract types or @defer) is built by a plan
made once per request, instead of graphql-core's walk field by field.

Why: a page of 50 runs with their pipeline and source is ~550 fields; graphql-core spends
~5 µs on each (resolve info, awaitable checks, null checks, path bookkeeping), 2.7 ms a
page on these machines, most of a request. The plan does the same reads and the same
output coercion in ~0.5 µs a field.

It must give exactly what graphql-core gives, so it only takes the happy path: a null in
a non-null field, a value that does not coerce, a read that raises, anything unusual
raises `_Fallback`, and graphql-core completes that object itself, producing its usual
errors and paths. Reading attributes has no side effects, so abandoning a half-built
result is safe. Any other exception is a fault of the planner: it is logged (once per
query shape) and graphql-core answers, so a planner bug is seen and never changes an answer.

The planner declines when the request has field middleware (a SchemaExtension with a
`resolve` hook: tracing, Sentry, OpenTelemetry): such a hook must see every field, and
calling it needs the per-field resolve info whose cost the plan exists to save.

Its `build` also types the errors of variables that do not coerce (see graph/input_errors).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from enum import Enum, EnumMeta
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    Undefined,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    print_ast,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path, is_iterable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField
from strawberry.types.unset import UnsetType

from graph.input_errors import variable_errors
from graph.scalars import LONG_MAX, LONG_MIN

# A resolver field whose value a page resolver may attach beforehand (see `prefetched`):
# its metadata names the attribute that holds it, UNSET when it was not prefetched.
PREFETCHED_ATTRIBUTE = "dataflow.prefetched_attribute"

Completer = Callable[[Any], Any]


logger = logging.getLogger(__name__)

# Query shapes whose fallback was logged already; bounded, as shapes are the clients'
# to choose.
_MAX_REPORTED_SHAPES = 1024
_reported_shapes: set[tuple[str, str, str]] = set()


class _Fallback(Exception):
    """This value needs graphql-core's full completion (an error, an unset prefetch);
    its message says which, for the debug log."""


def prefetched(attribute: str) -> dict[str, str]:
    """Metadata for a resolver field that is answered from `attribute` when it is set."""
    return {PREFETCHED_ATTRIBUTE: attribute}


class PlannedExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, completing plain objects by a per-request plan."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Keyed like graphql-core's own subfield memo: the field list's identity, kept
        # alive beside the plan so the id cannot be reused during this execution.
        self._plans: dict[
            tuple[GraphQLObjectType, int], tuple[FieldDetailsList, Completer | None]
        ] = {}

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> list[GraphQLError] | PlannedExecutionContext:
        """graphql-core's, with variables that do not coerce reported as BAD_USER_INPUT
        naming the variable and what it allows (its own errors carry no code, and would
        be masked as internal errors)."""
        built = super().build(
            schema, document, root_value, context_value, raw_variable_values, *args, **kwargs
        )
        if isinstance(built, list):
            return variable_errors(schema, built, raw_variable_values)
        assert isinstance(built, PlannedExecutionContext)
        return built

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        plan = self._object_plan(return_type, field_details_list)
        if plan is not None:
            try:
                return plan(result)
            except _Fallback as reason:
                # A value graphql-core completes (and reports) itself: expected, so only
                # seen in the debug log (an unset prefetch can be every request's).
                if logger.isEnabledFor(logging.DEBUG):
                    _report(return_type, field_details_list, "completing", reason)
            except Exception as error:  # a planner bug: logged; graphql-core answers
                _report(return_type, field_details_list, "completing", error)
        return super().complete_object_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _object_plan(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Completer | None:
        key = (object_type, id(field_details_list))
        cached = self._plans.get(key)
        if cached is None:
            cached = self._plans[key] = (
                field_details_list,
                self._planned_or_none(object_type, field_details_list),
            )
        return cached[1]

    def _planned_or_none(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Completer | None:
        if self._has_field_middleware():
            return None  # every field goes through the middleware (see the module doc)
        try:
            return self._build_object_plan(object_type, field_details_list)
        except Exception as error:  # a planner bug: logged, and no plan
            _report(object_type, field_details_list, "planning", error)
            return None

    def _has_field_middleware(self) -> bool:
        manager = self.middleware_manager
        return manager is not None and bool(manager.middlewares)

    def _build_object_plan(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Completer | None:
        if object_type.is_type_of is not None:
            return None
        grouped, defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if defer_usages:
            return None
        fields: list[tuple[str, Completer]] = []
        for response_key, details in grouped.items():
            produce = self._field_plan(object_type, details)
            if produce is None:
                return None
            fields.append((response_key, produce))
        return _object_completer(fields)

    def _field_plan(
        self, object_type: GraphQLObjectType, details: FieldDetailsList
    ) -> Completer | None:
        """The field's completed value from its parent object, or None if not plain."""
        node = details[0].node
        name = node.name.value
        if name == "__typename":
            type_name = object_type.name
            return lambda _source: type_name
        if any(item.node.arguments for item in details):
            return None
        field_def = object_type.fields.get(name)
        if field_def is None or field_def.args:
            return None
        read = _plain_read(field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF))
        complete = None if read is None else self._value_plan(field_def.type, details)
        if read is None or complete is None:
            return None
        attribute, is_prefetched = read
        if is_prefetched:
            return _prefetched_field(attribute, complete)
        return _attribute_field(attribute, complete, _unchanged_type(field_def.type))

    def _value_plan(
        self, return_type: GraphQLOutputType, details: FieldDetailsList
    ) -> Completer | None:
        required = is_non_null_type(return_type)
        if required:
            assert isinstance(return_type, GraphQLNonNull)
            return_type = return_type.of_type
        inner: Completer | None = None
        if is_list_type(return_type):
            assert isinstance(return_type, GraphQLList)
            item = self._value_plan(return_type.of_type, details)
            inner = None if item is None else _list(item)
        elif is_leaf_type(return_type):
            assert isinstance(return_type, GraphQLLeafType)
            inner = _leaf(return_type)
        elif is_object_type(return_type):
            assert isinstance(return_type, GraphQLObjectType)
            inner = self._object_plan(return_type, details)
        # Interfaces and unions (inner is None): graphql-core resolves the runtime type.
        if inner is None:
            return None
        return _non_null(inner) if required else _nullable(inner)


def _report(
    object_type: GraphQLObjectType,
    field_details_list: FieldDetailsList,
    stage: str,
    error: Exception,
) -> None:
    """Log a fallback once per query shape (the type and its selected fields): a planner
    failure as a warning with its traceback, a value left to graphql-core at debug."""
    selection = print_ast(field_details_list[0].node)
    shape = (object_type.name, selection, str(error))
    if shape in _reported_shapes:
        return
    if len(_reported_shapes) < _MAX_REPORTED_SHAPES:
        _reported_shapes.add(shape)
    extra = {"graphql_type": object_type.name, "selection": selection}
    if isinstance(error, _Fallback):
        logger.debug("graphql-core completes %s itself: %s", object_type.name, error, extra=extra)
        return
    logger.warning(
        "the planned execution failed %s %s (%s: %s); graphql-core answers instead",
        stage,
        object_type.name,
        type(error).__name__,
        error,
        exc_info=error,
        extra=extra,
    )


def _plain_read(field: object) -> tuple[str, bool] | None:
    """(the attribute holding a plain field's value, whether it is a prefetched one)."""
    if not isinstance(field, StrawberryField) or field.extensions:
        return None
    if field.base_resolver is None:
        return (field.python_name, False) if field.default_resolver is getattr else None
    attribute = field.metadata.get(PREFETCHED_ATTRIBUTE) if field.metadata else None
    return None if attribute is None else (attribute, True)


def _unchanged_type(field_type: GraphQLOutputType) -> type | None:
    """The Python type a String, ID or Boolean field returns unchanged (None, and
    anything else, goes through the field's full completion)."""
    if isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    return _UNCHANGED.get(getattr(field_type, "name", ""))


_UNCHANGED: dict[str, type] = {"String": str, "ID": str, "Boolean": bool}


# One closure per field, reading and completing at once: on a page of 550 fields every
# call saved is measurable.
def _attribute_field(attribute: str, complete: Completer, unchanged: type | None) -> Completer:
    if unchanged is not None:

        def produce_unchanged(source: Any) -> Any:
            value = _read(source, attribute)
            return value if type(value) is unchanged else complete(value)

        return produce_unchanged

    def produce(source: Any) -> Any:
        return complete(_read(source, attribute))

    return produce


def _read(source: Any, attribute: str) -> Any:
    # A read that raises is the field's error, which graphql-core reports with its path.
    try:
        return getattr(source, attribute)
    except Exception:
        raise _Fallback(f"reading {attribute} raised") from None


def _prefetched_field(attribute: str, complete: Completer) -> Completer:
    def produce(source: Any) -> Any:
        value = _read(source, attribute)
        if isinstance(value, UnsetType):
            raise _Fallback(f"{attribute} was not prefetched")
        return complete(value)

    return produce


def _object_completer(fields: list[tuple[str, Completer]]) -> Completer:
    def complete(source: Any) -> dict[str, Any]:
        return {key: produce(source) for key, produce in fields}

    return complete


def _non_null(inner: Completer) -> Completer:
    def complete(value: Any) -> Any:
        if value is None or value is Undefined:
            raise _Fallback("a null in a non-null field")
        return inner(value)

    return complete


def _nullable(inner: Completer) -> Completer:
    def complete(value: Any) -> Any:
        if value is None or value is Undefined:
            return None
        return inner(value)

    return complete


def _list(item: Completer) -> Completer:
    def complete(value: Any) -> list[Any]:
        if not is_iterable(value):
            raise _Fallback("a list field's value is not iterable")
        return [item(element) for element in value]

    return complete


def _leaf(leaf_type: GraphQLLeafType) -> Completer:
    coerce = leaf_type.coerce_output_value
    # What the built-in scalars give back unchanged, checked without calling them.
    passes = _PASS_THROUGH.get(leaf_type.name)
    enum_type, names = _enum_names(leaf_type)

    def complete(value: Any) -> Any:
        if passes is not None and passes(value):
            return value
        if type(value) is enum_type:
            return names[value]
        try:
            coerced = coerce(value)
        except Exception:
            raise _Fallback(f"a value {leaf_type.name} does not coerce") from None
        if coerced is None or coerced is Undefined:
            raise _Fallback(f"a value {leaf_type.name} coerces to null")
        return coerced

    return complete


def _enum_names(leaf_type: GraphQLLeafType) -> tuple[type | None, dict[Any, str]]:
    """A Strawberry enum's Python class and each member's output name, worked out once by
    the type's own coercion (which otherwise scans every member, for every value)."""
    enum_type = getattr(leaf_type, "wrapped_cls", None)
    if not isinstance(leaf_type, GraphQLEnumType) or not isinstance(enum_type, EnumMeta):
        return None, {}
    names: dict[Any, str] = {}
    members: list[Enum] = list(enum_type)
    for member in members:
        with contextlib.suppress(Exception):
            names[member] = leaf_type.coerce_output_value(member)
    if len(names) != len(members):
        return None, {}  # a member it cannot coerce: leave every value to coercion
    return enum_type, names


_INT_RANGE = range(-(2**31), 2**31)
_LONG_RANGE = range(LONG_MIN, LONG_MAX + 1)
_PASS_THROUGH: dict[str, Callable[[Any], bool]] = {
    "String": lambda value: type(value) is str,
    "ID": lambda value: type(value) is str,
    "Boolean": lambda value: value is True or value is False,
    "Int": lambda value: type(value) is int and value in _INT_RANGE,
    "Long": lambda value: type(value) is int and value in _LONG_RANGE,
}
