"""Options of the `sql` kind: the query, its bound params, the password reference."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.etl.sources.secrets import SecretRef

SqlParam = str | int | float | bool | None
# What a read starts with, after comments and parentheses (the transaction is read only
# anyway: this is for a clear message at once, not the protection).
_READ = re.compile(r"(\s|--[^\n]*\n|/\*.*?\*/|\()*(select|with|values|table)\b", re.I | re.S)


class SqlOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # One SELECT; $1, $2, ... are bound from `params` (never spliced into the text).
    query: str = Field(min_length=1, max_length=100_000)
    # Bound in order; a string that is exactly `{name}` takes the run param `name`.
    params: list[SqlParam] = Field(default_factory=list, max_length=100)
    password: SecretRef | None = None
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Postgres cancels the query past this (statement_timeout); 0 means no limit.
    statement_timeout_seconds: float = Field(default=0, ge=0, le=86_400)

    @field_validator("query")
    @classmethod
    def _a_read(cls, value: str) -> str:
        if not _READ.match(value):
            raise ValueError("must be one SELECT (or WITH, VALUES, TABLE) query: sources only read")
        return value
