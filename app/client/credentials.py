"""Where the client points and who it is: options, environment, then the config file."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Credentials:
    """The API's base URL and a bearer token (access token or API key), or the admin
    e-mail and password to log in with (a local dev server's DATAFLOW_ADMIN_*)."""

    url: str
    token: str | None = None
    email: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class StoredLogin:
    url: str
    token: str


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/dataflow/config.toml`, else `~/.config/dataflow/config.toml`."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "dataflow" / "config.toml"


def normalise_url(url: str) -> str:
    """`http://host:8000/graphql/` and `http://host:8000` name the same API."""
    return url.strip().rstrip("/").removesuffix("/graphql")


def read_login(path: Path) -> StoredLogin | None:
    if not path.is_file():
        return None
    data = tomllib.loads(path.read_text())
    url, token = data.get("url"), data.get("token")
    if not isinstance(url, str) or not isinstance(token, str):
        return None
    return StoredLogin(url=normalise_url(url), token=token)


def write_login(path: Path, login: StoredLogin) -> None:
    """Store the login readable by its owner only (it is a credential)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON string escapes are valid TOML basic strings.
    text = f"url = {json.dumps(login.url)}\ntoken = {json.dumps(login.token)}\n"
    temporary = path.with_suffix(".tmp")
    temporary.touch(mode=0o600)
    temporary.chmod(0o600)
    temporary.write_text(text)
    temporary.replace(path)


def resolve_credentials(
    *, url: str | None, token: str | None, environ: Mapping[str, str] | None = None
) -> Credentials:
    """URL: `--url`, DATAFLOW_URL, the config file, the default. Token: `--token`,
    DATAFLOW_TOKEN, the config file (only for the URL it was stored for, so a token never
    goes to another server), then DATAFLOW_ADMIN_EMAIL/PASSWORD to log in."""
    env = os.environ if environ is None else environ
    stored = read_login(config_path(env))
    chosen_url = normalise_url(
        url or env.get("DATAFLOW_URL") or (stored.url if stored else DEFAULT_URL)
    )
    chosen_token = token or env.get("DATAFLOW_TOKEN")
    if not chosen_token and stored is not None and stored.url == chosen_url:
        chosen_token = stored.token
    if chosen_token:
        return Credentials(url=chosen_url, token=chosen_token)
    email, password = env.get("DATAFLOW_ADMIN_EMAIL"), env.get("DATAFLOW_ADMIN_PASSWORD")
    if email and password:
        return Credentials(url=chosen_url, email=email, password=password)
    return Credentials(url=chosen_url)
