"""The application's environment variables, and the scrub that keeps them out of tests.

An operator following the README has DATAFLOW_ADMIN_PASSWORD, DATABASE_URL, REDIS_URL,
DATA_DIR and the like exported in the shell; the test session removes them from its own
environment at start, so no test and no subprocess a test starts (a `dataflow dev`, a
worker, the CLI) sees them. Tests that need a setting pass it explicitly.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pydantic import AliasChoices

from app.config import Settings

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from pydantic_settings import BaseSettings

# Everything under this prefix is the application's: the first admin, the CLI's URL and
# token, and source secrets (DATAFLOW_SECRET_*) ...
APP_PREFIX = "DATAFLOW_"
# ... except the test suite's own settings, which say where the test services are.
TEST_SETTINGS = ("DATAFLOW_TEST_", "DATAFLOW_REQUIRE_SERVICES")
# Every settings model the application reads the environment through.
SETTINGS_MODELS: tuple[type[BaseSettings], ...] = (Settings,)


def _field_variables(model: type[BaseSettings]) -> set[str]:
    """The variables one settings model reads: each field's alias, else prefix + name."""
    prefix = str(model.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in model.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
        else:
            names.add(prefix + name)
    return {name.upper() for name in names}


def settings_variables() -> frozenset[str]:
    """Every variable the settings models read (upper case; they are case-insensitive)."""
    return frozenset().union(*(_field_variables(model) for model in SETTINGS_MODELS))


def is_application_variable(name: str) -> bool:
    upper = name.upper()
    if upper.startswith(TEST_SETTINGS):
        return False
    return upper.startswith(APP_PREFIX) or upper in settings_variables()


def application_variables(environ: MutableMapping[str, str]) -> list[str]:
    """The names in `environ` the application would read."""
    return sorted(name for name in environ if is_application_variable(name))


def scrub(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Remove the application's variables from `environ`; returns the names removed."""
    removed = application_variables(environ)
    for name in removed:
        del environ[name]
    return removed
