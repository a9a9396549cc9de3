"""GraphQL over HTTP as its specification says: a client that accepts
`application/graphql-response+json` gets it, and then a request error (a document that does
not parse or validate, variables that do not coerce) is a 400 without `data`. A client that
asks for `application/json` (or for nothing in particular) is answered as before: 200."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from strawberry.asgi import GraphQL
from strawberry.types.unset import UNSET

from app.json_depth import JsonTooDeep, check_json_depth
from graph.context import Context
from graph.input_errors import REQUEST_ERROR_CODES, code_of

if TYPE_CHECKING:
    from starlette.websockets import WebSocket
    from strawberry.http import GraphQLHTTPResponse
    from strawberry.types import ExecutionResult

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_REQUEST_ERROR = "dataflow.graphql_request_error"


def _quality(accept: str, media_type: str) -> float:
    """How much the Accept header wants `media_type` (0 when it does not name it, its
    type's wildcard, or */*), by the most specific range that matches."""
    kind = media_type.split("/")[0]
    best: tuple[int, float] = (-1, 0.0)
    for part in accept.split(","):
        range_, *params = (item.strip() for item in part.split(";"))
        specificity = {media_type: 2, f"{kind}/*": 1, "*/*": 0}.get(range_.lower())
        if specificity is None or specificity < best[0]:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        best = (specificity, quality)
    return best[1]


def wants_graphql_response(accept: str) -> bool:
    """Whether to answer in `application/graphql-response+json`: the client named it, and
    likes it at least as much as `application/json` (`*/*` alone keeps JSON)."""
    if GRAPHQL_RESPONSE not in accept.lower():
        return False
    preferred = _quality(accept, GRAPHQL_RESPONSE)
    return preferred > 0 and preferred >= _quality(accept, JSON)


def is_request_error(result: ExecutionResult) -> bool:
    """Refused before execution began: no data, and every error a request error."""
    return (
        result.data is None
        and bool(result.errors)
        and all(
            error.path is None and code_of(error) in REQUEST_ERROR_CODES
            for error in result.errors or []
        )
    )


class RequestTooDeep(Exception):
    """An HTTP request's JSON (body, or variables in a GET) nests past `MAX_JSON_DEPTH`."""

    def __init__(self, where: str, error: JsonTooDeep) -> None:
        super().__init__(f"{where}: {error}")
        self.message = f"{where}: {error}"


def _too_deep_response(request: Request, error: RequestTooDeep) -> Response:
    """A typed GraphQL error (400: the request was not executed), not a RecursionError's 500."""
    body = {"errors": [{"message": error.message, "extensions": {"code": "BAD_USER_INPUT"}}]}
    media = GRAPHQL_RESPONSE if wants_graphql_response(request.headers.get("accept", "")) else JSON
    return JSONResponse(body, status_code=400, media_type=media)


class GraphQLOverHTTP(GraphQL[Context, None]):
    """Strawberry's ASGI view, answering in the media type the client accepts.

    JSON is checked for depth before it is decoded: Python's decoder recurses, so
    variables nested 100,000 deep were a RecursionError (HTTP 500)."""

    def parse_json(self, data: str | bytes) -> Any:
        try:
            check_json_depth(data)
        except JsonTooDeep as error:
            raise RequestTooDeep("the request's JSON", error) from None
        return super().parse_json(data)

    def decode_json(self, data: str | bytes) -> object:
        # WebSocket messages come here directly: too deep reads as "not valid JSON" (4400).
        try:
            check_json_depth(data)
        except JsonTooDeep as error:
            raise json.JSONDecodeError(str(error), "", 0) from None
        return super().decode_json(data)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if is_request_error(result):
            request.scope[_REQUEST_ERROR] = True
            if wants_graphql_response(request.headers.get("accept", "")):
                response.pop("data", None)  # the spec: a request error has no data entry
        return response

    async def run(
        self,
        request: Request | WebSocket,
        context: Context | Any = UNSET,
        root_value: None = UNSET,
    ) -> Any:
        try:
            response = await super().run(request, context, root_value)
        except RequestTooDeep as error:
            if isinstance(request, Request):
                return _too_deep_response(request, error)
            raise
        if (
            isinstance(request, Request)
            and isinstance(response, Response)
            and not isinstance(response, StreamingResponse)
            and response.media_type == JSON
            and wants_graphql_response(request.headers.get("accept", ""))
        ):
            response.headers["content-type"] = f"{GRAPHQL_RESPONSE}; charset=utf-8"
            if request.scope.get(_REQUEST_ERROR):
                response.status_code = 400
        return response
