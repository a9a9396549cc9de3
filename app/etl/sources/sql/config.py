"""The `sql` kind's config, and its policy check: a postgresql:// DSN without a password,
to a host the private-address guard allows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from app.errors import SourceInvalid
from app.etl.sources.config import SourceConfig
from app.etl.sources.netguard import check_host
from app.etl.sources.sql.options import SqlOptions

if TYPE_CHECKING:
    from app.etl.sources.policy import SourcePolicy


class SqlSource(SourceConfig):
    kind: Literal["sql"] = "sql"
    options: SqlOptions
    allow_private_networks: bool = False


def check_sql_source(uri: str, policy: SourcePolicy) -> dict[str, Any]:
    check_sql_uri(uri, allow_private=policy.allow_private_networks)
    return {"allow_private_networks": policy.allow_private_networks}


def check_sql_uri(uri: str, *, allow_private: bool) -> None:
    parts = urlsplit(uri)
    if parts.scheme not in {"postgresql", "postgres", "postgresql+asyncpg"}:
        raise SourceInvalid(
            f"{parts.scheme or 'no scheme'}: an sql source's uri is a postgresql:// DSN",
            path=["uri"],
        )
    if parts.password is not None:
        raise SourceInvalid(
            "the DSN holds a password; reference it instead with options.password = "
            '{"secret": "DATAFLOW_SECRET_..."}',
            path=["uri"],
        )
    check_host(parts.hostname, uri, allow_private=allow_private)
