"""Credentials as the CLI finds them (login and its config file, a token or API key, the
admin variables), and the exit codes and hints when they are missing or too weak."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from tests.cli.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.factories import unique
from tests.live import free_port

if TYPE_CHECKING:
    from tests.cli.conftest import Dataflow


def test_without_credentials_the_cli_exits_3_and_says_how_to_log_in(dataflow: Dataflow) -> None:
    result = dataflow("pipelines", "list")

    assert result.code == 3
    assert "UNAUTHENTICATED:" in result.stderr
    assert "dataflow login" in result.stderr


def test_login_stores_a_token_that_later_commands_use(dataflow: Dataflow) -> None:
    logged_in = dataflow("login", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD)
    config = dataflow.home / ".config" / "dataflow" / "config.toml"
    mode = stat.S_IMODE(config.stat().st_mode)

    listed = dataflow("users", "list", "--json")
    logged_out = dataflow("logout")
    after = dataflow("users", "list")

    assert logged_in.code == 0, logged_in.stderr
    assert f"as {ADMIN_EMAIL} (admin)" in logged_in.stderr
    assert mode == 0o600  # a credential: its owner's eyes only
    assert listed.code == 0, listed.stderr
    assert ADMIN_EMAIL in [user["email"] for user in listed.json()]
    assert logged_out.code == 0
    assert not config.exists()
    assert after.code == 3


def test_a_wrong_password_exits_3(dataflow: Dataflow) -> None:
    result = dataflow("login", "--email", ADMIN_EMAIL, "--password", "not-the-password")

    assert result.code == 3
    assert "UNAUTHENTICATED: wrong e-mail or password" in result.stderr


def test_an_api_key_works_until_it_is_revoked_and_only_for_its_role(dataflow: Dataflow) -> None:
    email = f"{unique('op')}@example.com"
    created = dataflow.as_admin(
        "users", "create", "--email", email, "--password", "operator-pass-1", "--role", "operator"
    )
    key = dataflow.as_admin("apikeys", "create", "--name", "ci", "--user", email, "--json").json()

    as_operator = dataflow("pipelines", "list", DATAFLOW_TOKEN=key["secret"])
    too_weak = dataflow("users", "list", DATAFLOW_TOKEN=key["secret"])
    revoked = dataflow.as_admin("apikeys", "revoke", key["id"])
    after = dataflow("pipelines", "list", DATAFLOW_TOKEN=key["secret"])

    assert created.code == 0, created.stderr
    assert key["role"] == "OPERATOR"
    assert as_operator.code == 0, as_operator.stderr
    assert too_weak.code == 3
    assert "FORBIDDEN: this needs the admin role; you have operator" in too_weak.stderr
    assert revoked.code == 0
    assert after.code == 3


def test_an_unreachable_server_is_a_clear_error(dataflow: Dataflow) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"

    result = dataflow.as_admin("--url", nowhere, "pipelines", "list")

    assert result.code == 1
    assert f"CONNECTION_FAILED: could not reach {nowhere}/graphql" in result.stderr
    assert "--url or DATAFLOW_URL" in result.stderr


def test_analytics_scopes_are_set_shown_and_cleared(dataflow: Dataflow) -> None:
    email = f"{unique('tenant')}@example.com"
    dataflow.as_admin("users", "create", "--email", email, "--password", "tenant-pass-1")
    scoped = dataflow.as_admin("users", "scope", email, '{"country": ["DE", "FR"]}')
    key = dataflow.as_admin(
        "apikeys",
        "create",
        "--name",
        "dash",
        "--user",
        email,
        "--scope",
        '{"country": "DE"}',
        "--json",
    ).json()
    listed = dataflow.as_admin("users", "list", "--json").json()
    narrowed = dataflow.as_admin("apikeys", "scope", key["id"], '{"country": "FR"}')
    keys = dataflow.as_admin("apikeys", "list", "--user", email, "--json").json()
    cleared = dataflow.as_admin("users", "scope", email, "--clear")
    not_json = dataflow.as_admin("users", "scope", email, "{country: DE}")
    empty = dataflow.as_admin("users", "scope", email, '{"country": []}')

    assert scoped.code == 0, scoped.stderr
    assert 'analytics scope {"country": ["DE", "FR"]}' in scoped.stderr
    assert key["analyticsScope"] == {"country": "DE"}
    (user,) = [user for user in listed if user["email"] == email]
    assert user["analyticsScope"] == {"country": ["DE", "FR"]}
    assert narrowed.code == 0, narrowed.stderr
    assert [k["analyticsScope"] for k in keys] == [{"country": "FR"}]
    assert cleared.code == 0
    assert "analytics scope -" in cleared.stderr
    assert not_json.code == 2
    assert "not valid JSON" in not_json.stderr
    assert empty.code == 1
    assert "INVALID_INPUT" in empty.stderr
    assert "give 1 to 1000 values" in empty.stderr
