"""The test session is hermetic: settings exported in the operator's shell never reach it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import environment

ROOT = Path(__file__).resolve().parents[2]
CLEAN_TEST = "tests/unit/test_test_environment.py::test_the_session_environment_holds_no_setting"
# A shell set up as the README's "Production" section and quick start suggest.
OPERATOR_SHELL = {
    "DATAFLOW_ADMIN_EMAIL": "x@example.com",
    "DATAFLOW_ADMIN_PASSWORD": "other-password",
    "DATAFLOW_URL": "http://127.0.0.1:8000",
    "DATAFLOW_TOKEN": "a-token",
    "DATAFLOW_SECRET_API": "s3cret",
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/prod",
    "REDIS_URL": "redis://127.0.0.1:6379/9",
    "DATA_DIR": "/tmp/operator-data",
    "ENV": "prod",
    "SECRET_KEY": "an operator's secret key, long enough for prod",
    "analytics_version_trust_seconds": "0",  # settings are read case-insensitively
}


def test_settings_variables_are_derived_from_every_settings_model() -> None:
    variables = environment.settings_variables()

    for name in (
        "DATABASE_URL",
        "WAREHOUSE_URL",
        "REDIS_URL",
        "DATA_DIR",
        "FILE_ROOTS",
        "S3_BUCKET",
        "S3_ENDPOINT_URL",
        "SECRET_KEY",
        "ENV",
        "LOG_LEVEL",
        "ETL_BATCH_ROWS",
        "ANALYTICS_VERSION_TRUST_SECONDS",
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
    ):
        assert name in variables
    settings_fields = sum(len(model.model_fields) for model in environment.SETTINGS_MODELS)
    assert len(variables) >= settings_fields


def test_the_test_settings_are_kept() -> None:
    assert not environment.is_application_variable("DATAFLOW_TEST_REDIS_URL")
    assert not environment.is_application_variable("DATAFLOW_TEST_PG_URL")
    assert not environment.is_application_variable("DATAFLOW_REQUIRE_SERVICES")
    assert environment.is_application_variable("DATAFLOW_ADMIN_PASSWORD")
    assert environment.is_application_variable("dataflow_url")


def test_the_session_environment_holds_no_setting() -> None:
    assert environment.application_variables(os.environ) == []


def test_a_session_started_from_an_operators_shell_is_clean() -> None:
    # The same check, in a pytest session started with the operator's variables exported:
    # before the scrub in tests/conftest.py this failed (and `dataflow dev` started by a
    # test took DATAFLOW_ADMIN_PASSWORD, so the test's login was UNAUTHENTICATED).
    env = {**os.environ, **OPERATOR_SHELL}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", CLEAN_TEST, "-q", "--no-cov", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
