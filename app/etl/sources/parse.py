"""`parse_source`: the API's (kind, uri, options) checked into a `SourceConfig`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from pydantic import BaseModel, ValidationError

from app.errors import SourceInvalid
from app.etl.sources.config import (
    FILE_KINDS,
    KNOWN_KINDS,
    CsvSource,
    FileSource,
    HttpSource,
    JsonSource,
    LocalFiles,
    NdjsonSource,
    ParquetSource,
    S3Files,
    SourceConfig,
    SqlSource,
    s3_location,
)
from app.etl.sources.http_options import HttpOptions
from app.etl.sources.netguard import check_http_uri, check_sql_uri, check_uri_characters
from app.etl.sources.options import CsvOptions, JsonOptions, ParquetOptions
from app.etl.sources.paths import confined_pattern
from app.etl.sources.sql_options import SqlOptions
from app.etl.sources.templates import placeholders

if TYPE_CHECKING:
    from collections.abc import Mapping

    from app.etl.sources.policy import SourcePolicy

_M = TypeVar("_M", bound=BaseModel)
_FILE_OPTIONS: dict[str, type[BaseModel]] = {
    "csv": CsvOptions,
    "json": JsonOptions,
    "ndjson": JsonOptions,
    "parquet": ParquetOptions,
}
_FRIENDLY = {"missing": "is required", "extra_forbidden": "is not a known option"}


@overload
def parse_source(
    kind: Literal["csv"], uri: str, options: Mapping[str, Any], policy: SourcePolicy
) -> CsvSource: ...
@overload
def parse_source(
    kind: Literal["json"], uri: str, options: Mapping[str, Any], policy: SourcePolicy
) -> JsonSource: ...
@overload
def parse_source(
    kind: Literal["ndjson"], uri: str, options: Mapping[str, Any], policy: SourcePolicy
) -> NdjsonSource: ...
@overload
def parse_source(
    kind: Literal["parquet"], uri: str, options: Mapping[str, Any], policy: SourcePolicy
) -> ParquetSource: ...
@overload
def parse_source(
    kind: Literal["http"], uri: str, options: Mapping[str, Any], policy: SourcePolicy
) -> HttpSource: ...
@overload
def parse_source(
    kind: Literal["sql"], uri: str, options: Mapping[str, Any], policy: SourcePolicy
) -> SqlSource: ...
@overload
def parse_source(
    kind: str, uri: str, options: Mapping[str, Any], policy: SourcePolicy
) -> SourceConfig: ...
def parse_source(
    kind: str, uri: str, options: Mapping[str, Any], policy: SourcePolicy
) -> SourceConfig:
    """Validate a source against the policy: files inside its roots, hosts it allows.

    Every problem is a SOURCE_INVALID (or a subclass) whose `path` points at the field.
    """
    check_uri_characters(uri)
    if kind in FILE_KINDS:
        return _file_source(kind, uri, options, policy)
    if kind == "http":
        check_http_uri(uri, allow_private=policy.allow_private_networks)
        placeholders(uri)
        return HttpSource(
            uri=uri,
            options=_options(HttpOptions, options, kind),
            allow_private_networks=policy.allow_private_networks,
        )
    if kind == "sql":
        check_sql_uri(uri, allow_private=policy.allow_private_networks)
        return SqlSource(
            uri=uri,
            options=_options(SqlOptions, options, kind),
            allow_private_networks=policy.allow_private_networks,
        )
    raise SourceInvalid(
        f"unknown source kind {kind!r}; known kinds: {', '.join(KNOWN_KINDS)}", path=["kind"]
    )


def _file_source(
    kind: str, uri: str, options: Mapping[str, Any], policy: SourcePolicy
) -> FileSource:
    placeholders(uri)
    location: LocalFiles | S3Files
    if uri.startswith("s3://"):
        location = s3_location(uri, policy.s3_endpoint_url)
    else:
        base, pattern = confined_pattern(uri, policy.allowed_roots)
        location = LocalFiles(roots=tuple(policy.allowed_roots), base=base, pattern=pattern)
    parsed = _options(_FILE_OPTIONS[kind], options, kind)
    return FILE_KINDS[kind].model_validate({"uri": uri, "location": location, "options": parsed})


def _options(model: type[_M], options: Mapping[str, Any], kind: str) -> _M:
    try:
        return model.model_validate(dict(options))
    except ValidationError as error:
        raise _invalid(error, model, kind) from None


def _invalid(error: ValidationError, model: type[BaseModel], kind: str) -> SourceInvalid:
    first = error.errors()[0]
    path = ["options", *(str(part) for part in first["loc"])]
    message = _FRIENDLY.get(first["type"], first["msg"].removeprefix("Value error, "))
    if first["type"] == "extra_forbidden" and len(path) == 2:
        message = f"unknown option; {kind} options are: {', '.join(model.model_fields)}"
    return SourceInvalid(f"{'.'.join(path)}: {message}", path=path)
