"""Secrets in source options: referenced by environment variable, resolved late, never shown."""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from app.etl.sources.errors import SourceSecretMissing

# Only variables meant for sources can be referenced: otherwise a source could send the
# service's own SECRET_KEY or DATABASE_URL to a server of the user's choosing.
SECRET_ENV_PREFIX = "DATAFLOW_SECRET_"  # noqa: S105 - a name prefix, not a secret
REDACTED = "***"
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
# Header (and query parameter) names whose literal values are credentials.
_SENSITIVE = re.compile(r"auth|cookie|token|secret|passw|api[-_]?key|signature", re.IGNORECASE)


class SecretRef(BaseModel):
    """`{"secret": "DATAFLOW_SECRET_X"}`, optionally `"prefix": "Bearer "` before the value."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    secret: str
    prefix: str = ""

    @field_validator("secret")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.fullmatch(value) or not value.startswith(SECRET_ENV_PREFIX):
            raise ValueError(
                f"a secret names an environment variable of upper-case letters, digits and _ "
                f"starting with {SECRET_ENV_PREFIX}"
            )
        return value

    def resolve(self) -> str:
        """The secret's value, read now from the environment (never stored)."""
        value = os.environ.get(self.secret)
        if value is None:
            raise SourceSecretMissing(
                f"the environment variable {self.secret} (a secret this source references) "
                "is not set on this worker",
                details={"secret": self.secret},
            )
        return self.prefix + value


def is_sensitive(name: str) -> bool:
    """Whether a header or parameter of this name carries a credential."""
    return bool(_SENSITIVE.search(name))


def resolve(value: str | SecretRef) -> str:
    return value.resolve() if isinstance(value, SecretRef) else value


def redact(value: Any, *, name: str = "") -> Any:
    """`value` safe to show: secret references kept (they are names), credentials masked."""
    if isinstance(value, dict):
        if set(value) <= {"secret", "prefix"} and "secret" in value:
            return dict(value)
        return {key: redact(item, name=str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, name=name) for item in value]
    if isinstance(value, str) and is_sensitive(name):
        return REDACTED
    return value
