"""Options of the `http` kind: request, records path, pagination, retries."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.etl.sources.secrets import SecretRef, is_sensitive

_PATH = re.compile(r"[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*")
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
Scalar = str | int | float | bool


def check_path(value: str | None) -> str | None:
    if value and not _PATH.fullmatch(value):
        raise ValueError("must be a dotted path of keys, such as data.items")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class NoPagination(_Model):
    type: Literal["none"] = "none"


class PagePagination(_Model):
    """`?page=1`, `?page=2`, ... until a page is empty or shorter than `size`."""

    type: Literal["page"]
    param: str = "page"
    start: int = Field(default=1, ge=0)
    size_param: str | None = None
    size: int | None = Field(default=None, ge=1, le=100_000)


class OffsetPagination(_Model):
    """`?offset=0&limit=100`, `?offset=100&limit=100`, ... until a page is short."""

    type: Literal["offset"]
    param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(default=100, ge=1, le=100_000)
    start: int = Field(default=0, ge=0)


class NextLinkPagination(_Model):
    """The next page's URL, from a body path, else from the `Link: <...>; rel="next"` header."""

    type: Literal["next_link"]
    path: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return check_path(value)


class CursorPagination(_Model):
    """A cursor from the body (`path`) sent back as `param` until it is missing or empty."""

    type: Literal["cursor"]
    param: str = "cursor"
    path: str

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_path(value) or ""


Pagination = Annotated[
    NoPagination | PagePagination | OffsetPagination | NextLinkPagination | CursorPagination,
    Field(discriminator="type"),
]


class HttpOptions(_Model):
    method: Literal["GET", "POST"] = "GET"
    headers: dict[str, str | SecretRef] = Field(default_factory=dict)
    # Query parameters; string values may use {name} run params.
    params: dict[str, Scalar | SecretRef] = Field(default_factory=dict)
    json_body: dict[str, object] | None = None
    records_path: str = ""
    pagination: Pagination = Field(default_factory=NoPagination)
    watermark_param: str | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0, le=60)
    # A Retry-After longer than this fails the read (transiently) instead of sleeping.
    max_retry_wait_seconds: float = Field(default=120.0, ge=0, le=3600)
    max_pages: int = Field(default=100_000, ge=1)
    # A page's body is held whole to parse it: refuse larger ones.
    max_page_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    flatten_depth: int = Field(default=3, ge=0, le=10)
    infer_types: bool = True

    @field_validator("records_path")
    @classmethod
    def _records_path(cls, value: str) -> str:
        return check_path(value) or ""

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str | SecretRef]) -> dict[str, str | SecretRef]:
        for name, item in value.items():
            if not _HEADER.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if isinstance(item, str) and ("\r" in item or "\n" in item):
                raise ValueError(f"header {name}: a value may not contain a line break")
        return value

    @model_validator(mode="after")
    def _credentials_are_referenced(self) -> HttpOptions:
        named = [*self.headers.items(), *self.params.items()]
        for name, item in named:
            if is_sensitive(name) and not isinstance(item, SecretRef):
                raise ValueError(
                    f"{name} looks like a credential: keep it out of the source and reference "
                    'an environment variable instead, as {"secret": "DATAFLOW_SECRET_..."}'
                )
        return self
