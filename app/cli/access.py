"""Who may do what: `login`, `logout`, `users create|list|disable|scope`,
`apikeys create|list|revoke|scope`."""

from __future__ import annotations

import asyncio
import json as jsonlib
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.app import EXIT_ERROR, EXIT_USAGE, JsonOption, Target, client
from app.cli.output import err, moment, out, print_json, table
from app.client import Credentials, DataFlowClient, resolve_credentials
from app.client.credentials import StoredLogin, config_path, write_login

if TYPE_CHECKING:
    from app.cli.app import Cli
    from app.client.types import ApiKey, User

users_cli = typer.Typer(help="Manage users (admin).", no_args_is_help=True)
keys_cli = typer.Typer(help="Manage API keys for scripts (admin).", no_args_is_help=True)
Role = Annotated[str, typer.Option(help="viewer, operator or admin.")]
ScopeArgument = Annotated[
    str | None,
    typer.Argument(
        help='Dimensions to the value or values allowed, as JSON: \'{"country": ["DE", "FR"]}\'.'
    ),
]
ClearOption = Annotated[bool, typer.Option("--clear", help="Remove the limit.")]


def parse_scope_option(text: str | None, *, clear: bool = False) -> dict[str, Any] | None:
    """A scope given on the command line: a JSON object, or nothing with --clear."""
    if clear == (text is not None):
        err.print("[red]give a scope as JSON, or --clear (not both)[/]")
        raise typer.Exit(EXIT_USAGE)
    if text is None:
        return None
    try:
        scope = jsonlib.loads(text)
    except ValueError as error:
        err.print(f"[red]the scope is not valid JSON:[/] {error}")
        raise typer.Exit(EXIT_USAGE) from None
    if not isinstance(scope, dict):
        err.print('[red]the scope must be a JSON object, e.g. {"country": "DE"}[/]')
        raise typer.Exit(EXIT_USAGE)
    return scope


def scope_text(scope: dict[str, Any] | None) -> str:
    return jsonlib.dumps(scope, sort_keys=True) if scope else "-"


def login(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Option(help="Your e-mail; prompted if omitted.")] = None,
    password: Annotated[
        str | None, typer.Option(help="Your password; prompted (hidden) if omitted.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="Store this API key instead of logging in.")
    ] = None,
) -> None:
    """Log in to the API and store the token in the config file, for later commands."""
    url = resolve_credentials(url=ctx.ensure_object(Target).url, token=None).url
    if api_key:
        token = api_key
    else:
        email = email or typer.prompt("E-mail")
        password = password or typer.prompt("Password", hide_input=True)
        token = DataFlowClient.connect(Credentials(url=url)).login(email, password)
    me = DataFlowClient.connect(Credentials(url=url, token=token)).me()
    path = config_path()
    write_login(path, StoredLogin(url=url, token=token))
    err.print(f"logged in to {url} as {me['email']} ({me['role'].lower()}); saved in {path}")
    if not api_key:
        err.print("access tokens expire: scripts should use an API key (`dataflow apikeys create`)")


def logout() -> None:
    """Forget the stored login."""
    path = config_path()
    path.unlink(missing_ok=True)
    err.print(f"removed {path}")


@users_cli.command("create")
def create_user(
    ctx: typer.Context,
    email: Annotated[str, typer.Option(help="E-mail address (the login).")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="Password.")],
    role: Role = "viewer",
    admin: Annotated[
        bool, typer.Option("--admin", help="An admin, made in the metadata database (the first).")
    ] = False,
    db: Annotated[
        bool, typer.Option("--db", help="Write to the metadata database instead of the API.")
    ] = False,
) -> None:
    """Create a user through the API (admin).

    With --admin or --db, directly in the metadata database instead: how the first admin
    is made, before anyone can log in.
    """
    if admin or db:
        user_id = _create_in_database(email, password, "admin" if admin else role)
        err.print(f"user {email} created ({user_id})")
        return
    user = client(ctx).create_user(email, password, role)
    err.print(f"user {user['email']} created ({user['id']}, {user['role'].lower()})")


def _create_in_database(email: str, password: str, role: str) -> str:
    from app.cli.database import database_errors, require_migrated
    from app.cli.processes import settings_or_exit
    from app.db import session_scope
    from app.errors import DataFlowError
    from app.models.user import UserCreate
    from app.services import users as user_service
    from app.validation import parse_model

    settings = settings_or_exit()

    async def create() -> str:
        data = parse_model(UserCreate, {"email": email, "password": password, "role": role})
        async with session_scope(settings) as session:
            return (await user_service.create(session=session, data=data)).id

    require_migrated(settings)
    try:
        with database_errors(settings):
            return asyncio.run(create())
    except DataFlowError as error:
        err.print(f"[red]{error.code}:[/] {error.message}")
        raise typer.Exit(EXIT_ERROR) from None


@users_cli.command("list")
def list_users(ctx: typer.Context, json: JsonOption = False) -> None:
    """Every user, newest first."""
    users = client(ctx).users()
    if json:
        print_json(users)
        return
    columns = ["id", "email", "role", "active", "analytics scope", "created"]
    table(columns, [_user_row(user) for user in users])


def _user_row(user: User) -> list[object]:
    active = "yes" if user["isActive"] else "[red]disabled[/]"
    scope = scope_text(user["analyticsScope"])
    return [
        user["id"],
        user["email"],
        user["role"].lower(),
        active,
        scope,
        moment(user["createdAt"]),
    ]


@users_cli.command("disable")
def disable_user(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The user's e-mail.")],
    db: Annotated[
        bool, typer.Option("--db", help="Write to the metadata database instead of the API.")
    ] = False,
) -> None:
    """Disable an account through the API (admin): no more logins, and its tokens and
    keys stop working at once. With --db, directly in the metadata database (API
    replicas then notice within two seconds)."""
    if db:
        _disable_in_database(email)
    else:
        api = client(ctx)
        api.set_user_active(api.user_by_email(email)["id"], active=False)
    err.print(f"user {email} disabled")


def _disable_in_database(email: str) -> None:
    from app.cli.database import database_errors, require_migrated
    from app.cli.processes import settings_or_exit
    from app.db import session_scope
    from app.errors import DataFlowError, NotFound
    from app.services import users as user_service

    settings = settings_or_exit()

    async def disable() -> None:
        async with session_scope(settings) as session:
            user = await user_service.get_by_email(session=session, email=email)
            if user is None:
                raise NotFound(f"no user has the e-mail {email}")
            await user_service.set_active(session=session, user_id=user.id, active=False)

    require_migrated(settings)
    try:
        with database_errors(settings):
            asyncio.run(disable())
    except DataFlowError as error:
        err.print(f"[red]{error.code}:[/] {error.message}")
        raise typer.Exit(EXIT_ERROR) from None


@users_cli.command("scope")
def scope_user(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The user's e-mail.")],
    scope: ScopeArgument = None,
    clear: ClearOption = False,
) -> None:
    """Limit the analytics rows a user may see (admin): forced into every query they
    make; a dataset without such a dimension cannot be read at all."""
    wanted = parse_scope_option(scope, clear=clear)
    api = client(ctx)
    user = api.set_user_analytics_scope(api.user_by_email(email)["id"], wanted)
    err.print(f"user {email}: analytics scope {scope_text(user['analyticsScope'])}")


@keys_cli.command("create")
def create_key(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What the key is for, e.g. nightly-backfill.")],
    user: Annotated[str | None, typer.Option(help="Owner's e-mail; yourself if omitted.")] = None,
    role: Annotated[
        str | None, typer.Option(help="At most the owner's role; the owner's if omitted.")
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(help="Narrows the owner's analytics scope for this key (JSON object)."),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Create an API key and print its secret (shown once) on stdout."""
    wanted = parse_scope_option(scope) if scope is not None else None
    api = client(ctx)
    owner_id = api.user_by_email(user)["id"] if user else None
    key, secret = api.create_api_key(name, owner_id, role, wanted)
    if json:
        print_json({**key, "secret": secret})
        return
    err.print(f"API key {key['name']} ({key['id']}, {key['role'].lower()}): store it now")
    out.print(secret, highlight=False)


@keys_cli.command("list")
def list_keys(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(help="Owner's e-mail; yourself if omitted.")] = None,
    json: JsonOption = False,
) -> None:
    """A user's API keys (never their secrets)."""
    api = client(ctx)
    owner_id = api.user_by_email(user)["id"] if user else api.me()["id"]
    keys = api.api_keys(owner_id)
    if json:
        print_json(keys)
        return
    columns = ["id", "name", "prefix", "role", "analytics scope", "created", "last used", "revoked"]
    table(columns, [_key_row(key) for key in keys])


def _key_row(key: ApiKey) -> list[object]:
    return [
        key["id"],
        key["name"],
        key["prefix"],
        key["role"].lower(),
        scope_text(key["analyticsScope"]),
        moment(key["createdAt"]),
        moment(key["lastUsedAt"]),
        moment(key["revokedAt"]),
    ]


@keys_cli.command("revoke")
def revoke_key(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id.")]
) -> None:
    """Revoke an API key: it stops working at once."""
    key = client(ctx).revoke_api_key(key_id)
    err.print(f"API key {key['name']} ({key['id']}) revoked")


@keys_cli.command("scope")
def scope_key(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id.")],
    scope: ScopeArgument = None,
    clear: ClearOption = False,
) -> None:
    """Narrow the analytics rows requests made with one API key may see (admin)."""
    key = client(ctx).set_api_key_analytics_scope(key_id, parse_scope_option(scope, clear=clear))
    err.print(
        f"API key {key['name']} ({key['id']}): analytics scope {scope_text(key['analyticsScope'])}"
    )


def register(cli: Cli) -> None:
    cli.command(rich_help_panel="Access")(login)
    cli.command(rich_help_panel="Access")(logout)
    cli.add_typer(users_cli, name="users", rich_help_panel="Access")
    cli.add_typer(keys_cli, name="apikeys", rich_help_panel="Access")
