"""DuckDB extensions from their PyPI packages (never downloaded), and the S3 secret."""

from __future__ import annotations

import importlib.resources
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import duckdb

if TYPE_CHECKING:
    from app.config import Settings

_PACKAGES = {
    "httpfs": "duckdb_extension_httpfs",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
}


def sql_literal(text: str) -> str:
    """A string literal for statements that take no parameters (LOAD, COPY TO, secrets).

    Only server-side text goes here (package paths, settings, generated file names).
    """
    return "'" + text.replace("'", "''") + "'"


def load_extension(connection: duckdb.DuckDBPyConnection, name: str) -> None:
    """LOAD the extension file shipped in its `duckdb-extension-*` package."""
    files = importlib.resources.files(_PACKAGES[name])
    path = files / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    connection.execute(f"LOAD {sql_literal(str(path))}")


def configure_s3(connection: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """httpfs, and a secret for the replica bucket from the settings and AWS variables."""
    load_extension(connection, "httpfs")
    options = {"TYPE": "s3", "REGION": sql_literal(settings.aws_region)}
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        options["KEY_ID"] = sql_literal(settings.aws_access_key_id)
        options["SECRET"] = sql_literal(settings.aws_secret_access_key)
    if settings.aws_session_token:
        options["SESSION_TOKEN"] = sql_literal(settings.aws_session_token)
    if settings.s3_endpoint_url:
        endpoint = urlsplit(settings.s3_endpoint_url)
        options["ENDPOINT"] = sql_literal(endpoint.netloc)
        options["URL_STYLE"] = "'path'"
        options["USE_SSL"] = "true" if endpoint.scheme == "https" else "false"
    rendered = ", ".join(f"{key} {value}" for key, value in options.items())
    connection.execute(f"CREATE OR REPLACE SECRET dataflow_replica ({rendered})")
