"""Options of the `sql` kind: the query, its bound params, the password reference."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.etl.sources.secrets import SecretRef

SqlParam = str | int | float | bool | None


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
