"""Settings: embedded defaults, production backends, and one clear line for a bad value."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import Environment, load_settings
from app.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

SETTING_NAMES = [
    "ENV",
    "DATABASE_URL",
    "WAREHOUSE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "CORS_ORIGINS",
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "SENTRY_DSN",
    "LOG_LEVEL",
    "DATA_DIR",
    "FILE_ROOTS",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)


def test_nothing_set_means_embedded_backends() -> None:
    settings = load_settings()
    assert settings.env is Environment.DEV
    assert settings.metadata_url.startswith("sqlite+aiosqlite:///")
    assert settings.metadata_url.endswith(".dataflow/metadata.db")
    assert settings.warehouse_target.startswith("duckdb:///")
    assert settings.embedded_broker


def test_service_urls_choose_postgres_and_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.internal:5432/meta")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    settings = load_settings()
    assert settings.metadata_url == "postgresql+asyncpg://u:p@db.internal:5432/meta"
    assert settings.warehouse_target == settings.metadata_url
    assert not settings.embedded_broker
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_warehouse_url_overrides_the_metadata_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@meta:5432/meta")
    monkeypatch.setenv("WAREHOUSE_URL", "postgres://u@wh:5432/wh")
    assert load_settings().warehouse_target == "postgresql+asyncpg://u@wh:5432/wh"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ENV", "staging", "ENV: 'staging' is not one of dev, prod"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL: scheme 'mysql' is not one of"),
        ("DATABASE_URL", "postgresql:///nohost", "DATABASE_URL: has no host"),
        ("REDIS_URL", "redis://cache:notaport/0", "REDIS_URL: has an invalid port"),
        ("WAREHOUSE_URL", "not a url", "WAREHOUSE_URL: scheme '(none)'"),
        ("S3_ENDPOINT_URL", "ftp://s3", "S3_ENDPOINT_URL: scheme 'ftp'"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: 'LOUD' is not one of"),
    ],
)
def test_a_bad_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.message.startswith(expected)
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("secret", [None, "changeme", "short-but-real"])
def test_prod_needs_a_real_secret_key(monkeypatch: pytest.MonkeyPatch, secret: str | None) -> None:
    monkeypatch.setenv("ENV", "prod")
    if secret is not None:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigError, match="SECRET_KEY: must be"):
        load_settings()


def test_prod_with_a_long_random_secret_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "prod")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    assert load_settings().signing_key() == "x" * 40


def test_dev_signing_key_is_generated_once_and_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "d"))
    first = load_settings().signing_key()
    assert len(first) >= 32
    assert load_settings().signing_key() == first
    assert (tmp_path / "d" / "secret_key").stat().st_mode & 0o077 == 0


def test_file_roots_default_to_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert load_settings().allowed_file_roots == [tmp_path.resolve()]
    monkeypatch.setenv("FILE_ROOTS", f"{tmp_path}/a:{tmp_path}/b")
    assert load_settings().allowed_file_roots == [tmp_path / "a", tmp_path / "b"]


def test_the_cli_stops_with_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "prod")
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["configuration error: SECRET_KEY: must be set to a random value when ENV=prod"]
