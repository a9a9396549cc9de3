"""Typed request errors: a value that does not fit its argument or variable is
`BAD_USER_INPUT` naming the argument (or variable), where in the value, and for an enum the
values it allows; any other invalid document is `GRAPHQL_VALIDATION_FAILED`, one that does
not parse `GRAPHQL_PARSE_FAILED` (Apollo's codes, which clients already know)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLSchema,
    Undefined,
    ValidationRule,
    get_named_type,
    get_nullable_type,
    type_from_ast,
)
from graphql.language import SKIP, VariableDefinitionNode
from graphql.pyutils import print_path_list
from graphql.utilities.validate_input_value import validate_input_literal, validate_input_value

if TYPE_CHECKING:
    from graphql import GraphQLInputType
    from graphql.language import ArgumentNode, ValueNode, VisitorAction

BAD_USER_INPUT = "BAD_USER_INPUT"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
# A document that names no operation to run (or an unknown one).
BAD_REQUEST = "BAD_REQUEST"

# Errors raised before execution starts: GraphQL over HTTP answers them with 400 and no
# `data` (application/graphql-response+json).
REQUEST_ERROR_CODES = frozenset(
    {BAD_USER_INPUT, GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_REQUEST}
)


def code_of(error: GraphQLError) -> str | None:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else None


def _type_at(top: GraphQLInputType, path: list[str | int]) -> GraphQLInputType | None:
    """The type of the part of a value that `path` leads to (None if it leads nowhere)."""
    current: Any = top
    for key in path:
        current = get_nullable_type(current)
        if isinstance(key, int) and isinstance(current, GraphQLList):
            current = current.of_type
        elif isinstance(key, str) and isinstance(current, GraphQLInputObjectType):
            field = current.fields.get(key)
            if field is None:
                return None
            current = field.type
        else:
            return None
    found: GraphQLInputType | None = current
    return found


def bad_input(
    subject: str,
    name: dict[str, str],
    top: GraphQLInputType,
    error: GraphQLError,
    path: list[str | int],
) -> GraphQLError:
    """`error` at `path` inside the value of `subject` ("Argument 'role'"), as a
    BAD_USER_INPUT error that says where, and for an enum what is allowed."""
    extensions: dict[str, Any] = {"code": BAD_USER_INPUT, **name}
    message = f"{subject} has an invalid value{print_path_list(path)}: {error.message}"
    part = _type_at(top, path)
    named = get_named_type(part) if part is not None else None
    if isinstance(named, GraphQLEnumType):
        allowed = list(named.values)
        message += f" Allowed values: {', '.join(allowed)}."
        extensions["allowedValues"] = allowed
    return GraphQLError(message, error.nodes, extensions=extensions)


class ArgumentValuesRule(ValidationRule):
    """graphql-core's ValuesOfCorrectTypeRule (which it replaces), with errors that name
    the argument or variable and list an enum's values."""

    def enter_argument(self, node: ArgumentNode, *_args: object) -> VisitorAction:
        argument = self.context.get_argument()
        if argument is not None:  # an unknown argument is KnownArgumentNamesRule's
            name = node.name.value
            self._check(node.value, argument.type, f"Argument '{name}'", {"argument": name})
        return SKIP

    def enter_variable_definition(
        self, node: VariableDefinitionNode, *_args: object
    ) -> VisitorAction:
        input_type = self.context.get_input_type()
        if node.default_value is not None and input_type is not None:
            name = node.variable.name.value
            subject = f"Variable '${name}' default value"
            self._check(node.default_value, input_type, subject, {"variable": name})
        return SKIP

    def _check(
        self, value: ValueNode, top: GraphQLInputType, subject: str, name: dict[str, str]
    ) -> None:
        def on_error(error: GraphQLError, path: list[str | int]) -> None:
            if not error.nodes:
                error = GraphQLError(error.message, value)
            self.report_error(bad_input(subject, name, top, error, path))

        validate_input_literal(value, top, on_error, hide_suggestions=self.context.hide_suggestions)


def variable_errors(
    schema: GraphQLSchema, errors: list[GraphQLError], inputs: dict[str, Any] | None
) -> list[GraphQLError]:
    """Variable coercion's errors, each a BAD_USER_INPUT error that names the variable,
    where in its value, and for an enum what is allowed; others are BAD_REQUEST."""
    described: list[GraphQLError] = []
    seen: set[str] = set()
    for error in errors:
        node = error.nodes[0] if error.nodes else None
        if not isinstance(node, VariableDefinitionNode):
            described.append(_with_code(error, BAD_REQUEST))
            continue
        name = node.variable.name.value
        var_type = type_from_ast(schema, node.type)
        if name in seen:
            continue
        seen.add(name)
        found = _describe_variable(name, node, var_type, (inputs or {}).get(name, Undefined))
        described.extend(found or [_with_code(error, BAD_USER_INPUT)])
    return described


def _describe_variable(
    name: str, node: VariableDefinitionNode, var_type: Any, value: Any
) -> list[GraphQLError]:
    if var_type is None:
        return []
    found: list[GraphQLError] = []

    def on_error(error: GraphQLError, path: list[str | int]) -> None:
        located = GraphQLError(error.message, node)
        found.append(bad_input(f"Variable '${name}'", {"variable": name}, var_type, located, path))

    # Coercion failed, so this walk (the same graphql-core does) finds what it found.
    validate_input_value(value, var_type, on_error)
    return found


def _with_code(error: GraphQLError, code: str) -> GraphQLError:
    return GraphQLError(
        error.message, error.nodes, extensions={**(error.extensions or {}), "code": code}
    )
