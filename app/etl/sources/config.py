"""`SourceConfig`: what every validated source holds; each kind subclasses it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict


class SourceConfig(BaseModel):
    """A source checked against the policy. Subclasses narrow `kind` to a Literal and
    `options` to their kind's options model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    uri: str
    options: BaseModel

    def public_uri(self) -> str:
        """The uri with any password removed."""
        parts = urlsplit(self.uri)
        if parts.password is None:
            return self.uri
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}:***@" if parts.username else "***@"
        return urlunsplit(parts._replace(netloc=user + netloc))

    def public_options(self) -> dict[str, Any]:
        """The options as given, safe to show (kinds holding secrets redact them)."""
        return self.options.model_dump(mode="json", exclude_unset=True)
