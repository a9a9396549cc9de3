"""Settings from the environment, validated once at start-up (pydantic-settings)."""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.errors import ConfigError

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "please-change-me"})
MIN_PROD_SECRET_LENGTH = 32

_SQL_SCHEMES = {
    "postgresql",
    "postgresql+asyncpg",
    "postgres",
    "sqlite",
    "sqlite+aiosqlite",
}
_REDIS_SCHEMES = {"redis", "rediss"}


class Environment(StrEnum):
    DEV = "dev"
    PROD = "prod"


def _check_url(value: str | None, schemes: set[str]) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise ValueError(f"scheme {parts.scheme or '(none)'!r} is not one of {allowed}")
    if not parts.scheme.startswith("sqlite") and not parts.hostname:
        raise ValueError("has no host")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    return value


def _normalise_postgres(url: str) -> str:
    """`postgres://` and `postgresql://` both mean the async driver to us."""
    scheme, rest = url.split("://", 1)
    if scheme in {"postgres", "postgresql"}:
        return f"postgresql+asyncpg://{rest}"
    if scheme == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    env: Environment = Environment.DEV
    database_url: str | None = None
    warehouse_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    sentry_dsn: str | None = None
    log_level: str = "INFO"
    data_dir: Path = Path(".dataflow")
    file_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    access_token_minutes: int = 60
    # Runs: a worker's claim lasts this long unless renewed (a third of it, while working);
    # the reaper takes back runs whose lease expired. Transient failures retry after
    # Full jitter (app.retry): uniform in [0, retry_base_seconds * 2^(attempt-1)], capped.
    run_lease_seconds: float = Field(default=60, ge=1, le=3600)
    retry_base_seconds: float = Field(default=5, ge=0, le=3600)
    retry_max_seconds: float = Field(default=300, ge=0, le=24 * 3600)
    # The scheduler wakes this often, and catches up at most this many missed ticks.
    scheduler_interval_seconds: float = Field(default=15, ge=0.1, le=3600)
    schedule_catchup: int = Field(default=3, ge=0, le=1000)
    # HTTP sources may not reach loopback or private addresses unless this is set.
    allow_private_networks: bool = False
    # Rows per batch on the data path: bounds memory, and how soon a cancel is noticed.
    # 25k: as fast as larger batches here, with peak RSS about 300 MB at 5M rows.
    etl_batch_rows: int = Field(default=25_000, ge=1_000, le=10_000_000)
    # A run's progress is written (and published) at most this often, not after every
    # batch: each write is a metadata transaction the load waited for (app/etl/progress.py).
    # It also bounds how long a cancel takes to stop a load; 0 writes every batch's.
    run_progress_seconds: float = Field(default=0.5, ge=0, le=60)
    # Caps on one pipeline spec (app/etl/spec_limits.py): checking a spec costs time in
    # proportion to its steps and expressions, so one request cannot ask for minutes.
    spec_max_steps: int = Field(default=200, ge=1, le=10_000)
    spec_max_expression_chars: int = Field(default=10_000, ge=100, le=1_000_000)
    spec_max_depth: int = Field(default=16, ge=4, le=64)
    # Analytics (app/analytics). The cost guard: estimated result groups (time buckets x
    # dimension cardinalities).
    analytics_max_groups: int = Field(default=1_000_000, ge=1)
    # A running analytics query is interrupted after this long.
    analytics_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Result cache size (an estimate of the Python objects held); 0 turns it off.
    analytics_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0)
    # How long a dataset version heard from the metadata database is trusted without
    # asking again (loads announce themselves; this bounds a lost announcement, see
    # app/analytics/freshness.py); 0 asks on every query.
    analytics_version_trust_seconds: float = Field(default=1.0, ge=0, le=60)
    # DuckDB queries at once per process; more wait their turn rather than thrash.
    analytics_max_concurrency: int = Field(default=4, ge=1, le=64)
    # Credentials for the S3 analytics replica (DuckDB's httpfs reads them from here, not
    # from ~/.aws); the same standard variables aioboto3 reads.
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    aws_region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )

    @field_validator("database_url", "warehouse_url")
    @classmethod
    def _sql_url(cls, value: str | None) -> str | None:
        checked = _check_url(value, _SQL_SCHEMES)
        return _normalise_postgres(checked) if checked else None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return _check_url(value, _REDIS_SCHEMES)

    @field_validator("s3_endpoint_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return _check_url(value, {"http", "https"})

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("file_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(root) for root in value.split(":") if root]
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"{value!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="after")
    def _prod_needs_a_real_secret(self) -> Settings:
        if self.env is Environment.PROD:
            key = (self.secret_key or "").strip()
            if key.lower() in PLACEHOLDER_SECRETS:
                raise ValueError("SECRET_KEY: must be set to a random value when ENV=prod")
            if len(key) < MIN_PROD_SECRET_LENGTH:
                raise ValueError(
                    f"SECRET_KEY: must be at least {MIN_PROD_SECRET_LENGTH} characters "
                    "when ENV=prod"
                )
        return self

    # --- derived backends -------------------------------------------------------------

    @property
    def metadata_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'metadata.db').resolve()}"

    @property
    def warehouse_target(self) -> str:
        """A PostgreSQL URL, or `duckdb:///path` for the embedded warehouse."""
        if self.warehouse_url:
            return self.warehouse_url
        if self.database_url and self.database_url.startswith("postgresql"):
            return self.database_url
        return f"duckdb:///{(self.data_dir / 'warehouse.duckdb').resolve()}"

    @property
    def embedded_broker(self) -> bool:
        return self.redis_url is None

    @property
    def allowed_file_roots(self) -> list[Path]:
        """Where file sources may read from: configured roots, else the data dir."""
        roots = self.file_roots or [self.data_dir]
        return [root.resolve() for root in roots]

    def signing_key(self) -> str:
        """The JWT key: the configured one, else a random one kept in the data dir (dev)."""
        if self.secret_key:
            return self.secret_key
        key_file = self.data_dir / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    variable = str(first["loc"][0]).upper() if first["loc"] else ""
    message = first["msg"].removeprefix("Value error, ")
    if message.startswith(f"{variable}:") or not variable:
        return message
    if first["type"] == "enum":
        return f"{variable}: {first['input']!r} is not one of dev, prod"
    return f"{variable}: {message}"


def load_settings() -> Settings:
    """Read settings from the environment; a bad value raises one clear `ConfigError`."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
