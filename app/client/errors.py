"""What the client raises: the API's typed errors, auth refusals, an unreachable server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

AUTH_CODES = frozenset({"UNAUTHENTICATED", "FORBIDDEN"})


class ClientError(Exception):
    """A failure with a stable `code` (the API's own, where it gave one) and a message."""

    def __init__(self, code: str, message: str, *, path: Sequence[str] = ()) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.path = list(path)


class ApiError(ClientError):
    """The API refused: a mutation's `UserError`, or a GraphQL error with a code."""


class AuthError(ClientError):
    """No credentials, bad ones, or a role too small for the request."""


class ConnectionFailed(ClientError):
    """The server could not be reached, or did not answer GraphQL."""


def from_graphql_error(error: Mapping[str, Any]) -> ClientError:
    """A GraphQL `errors[]` entry as ApiError or AuthError, by `extensions.code`."""
    extensions = error.get("extensions") or {}
    code = str(extensions.get("code") or "GRAPHQL_ERROR")
    message = str(error.get("message") or "the API returned an error without a message")
    path = [str(part) for part in error.get("path") or []]
    kind = AuthError if code in AUTH_CODES else ApiError
    return kind(code, message, path=path)


def from_user_error(error: Mapping[str, Any]) -> ClientError:
    """A mutation payload's `UserError { code message path }` (a failed login is one)."""
    code = str(error["code"])
    path = [str(part) for part in error.get("path") or []]
    kind = AuthError if code in AUTH_CODES else ApiError
    return kind(code, str(error["message"]), path=path)
