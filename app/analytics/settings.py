"""Analytics limits and tuning, from `ANALYTICS_*` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import ConfigError

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 50_000


class AnalyticsSettings(BaseSettings):
    """Kept apart from `Settings` so analytics can be tuned without touching the core."""

    model_config = SettingsConfigDict(
        env_prefix="ANALYTICS_",
        env_file=None,
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    # The cost guard: estimated result groups (time buckets x dimension cardinalities).
    max_groups: int = Field(default=1_000_000, ge=1)
    # A running query is interrupted after this long.
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Result cache size (an estimate of the Python objects held); 0 turns it off.
    cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0)
    # How long a dataset version heard from the metadata database is trusted without
    # asking again (loads announce themselves; this bounds a lost announcement, see
    # app/analytics/freshness.py); 0 asks on every query.
    version_trust_seconds: float = Field(default=1.0, ge=0, le=60)
    # DuckDB queries at once per process; more wait their turn rather than thrash.
    max_concurrency: int = Field(default=4, ge=1, le=64)
    # Credentials for the S3 replica (DuckDB's httpfs reads them from here, not from
    # ~/.aws); the same standard variables aioboto3 reads.
    aws_access_key_id: str | None = Field(default=None, validation_alias="AWS_ACCESS_KEY_ID")
    aws_secret_access_key: str | None = Field(
        default=None, validation_alias="AWS_SECRET_ACCESS_KEY"
    )
    aws_session_token: str | None = Field(default=None, validation_alias="AWS_SESSION_TOKEN")
    aws_region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )


@lru_cache(maxsize=1)
def get_analytics_settings() -> AnalyticsSettings:
    try:
        return AnalyticsSettings()
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "ANALYTICS"
        raise ConfigError(f"ANALYTICS_{name}: {first['msg']}") from None
