"""The `http` kind's config, and its policy check: http(s) only, no credential in the URL,
no internal address unless the policy allows private networks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from app.errors import SourceInvalid
from app.etl.sources.config import SourceConfig
from app.etl.sources.http.options import HttpOptions
from app.etl.sources.netguard import check_host
from app.etl.sources.secrets import is_sensitive, redact
from app.etl.sources.templates import placeholders

if TYPE_CHECKING:
    from app.etl.sources.policy import SourcePolicy


class HttpSource(SourceConfig):
    kind: Literal["http"] = "http"
    options: HttpOptions = Field(default_factory=HttpOptions)
    allow_private_networks: bool = False

    def public_options(self) -> dict[str, Any]:
        redacted: dict[str, Any] = redact(super().public_options())
        return redacted


def check_http_source(uri: str, policy: SourcePolicy) -> dict[str, Any]:
    check_http_uri(uri, allow_private=policy.allow_private_networks)
    placeholders(uri)
    return {"allow_private_networks": policy.allow_private_networks}


def check_http_uri(uri: str, *, allow_private: bool) -> None:
    """Parse-time checks: http(s), a host, no credentials in the URL, no internal literal."""
    parts = urlsplit(uri)
    if parts.scheme not in {"http", "https"}:
        raise SourceInvalid(f"{uri!r}: only http:// and https:// URLs can be read", path=["uri"])
    check_host(parts.hostname, uri, allow_private=allow_private)
    if parts.password is not None:
        raise SourceInvalid(
            "the URL holds a password; reference it from the environment in a header "
            'instead: {"Authorization": {"secret": "DATAFLOW_SECRET_..."}}',
            path=["uri"],
        )
    names = [item.split("=", 1)[0] for item in parts.query.split("&") if item]
    if any(is_sensitive(name) for name in names):
        raise SourceInvalid(
            "the URL's query holds a credential; put it in options.params as "
            '{"secret": "DATAFLOW_SECRET_..."} instead',
            path=["uri"],
        )
