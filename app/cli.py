"""The `dataflow` command: run the API and workers, migrate, manage users."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console

from app.config import Settings, load_settings
from app.errors import ConfigError, DataFlowError

cli = typer.Typer(help="DataFlow: ingest, transform with Polars, load, serve over GraphQL.")
users_cli = typer.Typer(help="Manage users.")
cli.add_typer(users_cli, name="users")
console = Console(stderr=True, soft_wrap=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        console.print(f"[red]configuration error:[/] {error.message}")
        raise typer.Exit(2) from None


def _migrate(settings: Settings) -> None:
    from app import migrate

    migrate.upgrade(settings.metadata_url)


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from app.logs import configure_logging
    from graph.asgi import create_app

    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, ws="websockets-sansio")


@cli.command()
def dev(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    demo: Annotated[bool, typer.Option(help="Add a sample CSV, source and pipeline.")] = False,
) -> None:
    """Run the API with in-process workers on the embedded backends, migrated on start."""
    from app import bootstrap

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _migrate(settings)
    credentials = bootstrap.admin_from_environment() or bootstrap.AdminCredentials(
        bootstrap.DEV_ADMIN_EMAIL, bootstrap.DEV_ADMIN_PASSWORD
    )
    if asyncio.run(bootstrap.ensure_first_admin(settings, credentials)):
        console.print(f"admin created: {credentials.email} / {credentials.password}")
    if demo:
        pipeline_id = asyncio.run(bootstrap.install_demo(settings))
        if pipeline_id:
            console.print(f"demo pipeline {bootstrap.DEMO_PIPELINE} created: {pipeline_id}")
    console.print(f"DataFlow is running at http://{host}:{port}/graphql (GraphiQL in a browser)")
    _serve(settings, host, port)


@cli.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "0.0.0.0",  # noqa: S104
) -> None:
    """Run the API only (production): migrations and workers run separately."""
    from app import bootstrap

    settings = _settings()
    credentials = bootstrap.admin_from_environment()
    if credentials and asyncio.run(bootstrap.ensure_first_admin(settings, credentials)):
        console.print(f"admin created: {credentials.email}")
    _serve(settings, host, port)


@cli.command()
def worker(
    processes: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    threads: Annotated[int, typer.Option(help="Threads per process.")] = 2,
) -> None:
    """Run Dramatiq worker processes against REDIS_URL."""
    settings = _settings()
    if settings.redis_url is None:
        console.print("[red]REDIS_URL is not set:[/] `dataflow dev` runs workers in-process")
        raise typer.Exit(2)
    dramatiq = shutil.which("dramatiq") or "dramatiq"
    args = [dramatiq, "actors", "--processes", str(processes), "--threads", str(threads)]
    os.execvp(dramatiq, args)  # noqa: S606  (fixed argv, no shell)


@cli.command()
def scheduler() -> None:
    """Fire due schedule ticks and reap lost runs, until stopped (run one or more)."""
    from actors.runs import enqueue_run
    from app.logs import configure_logging
    from app.scheduler import run_forever

    settings = _settings()
    configure_logging(settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_forever(settings, enqueue_run, stop)

    console.print(f"scheduler running (every {settings.scheduler_interval_seconds:g} s)")
    asyncio.run(main())


@cli.command()
def cleanup(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age such as 30d, 12h or 90m.")
    ] = "30d",
) -> None:
    """Delete finished runs (and their events) older than the given age; never a live one."""
    from app.db import session_scope
    from app.models.base import utcnow
    from app.services import retention

    settings = _settings()
    try:
        age = parse_age(older_than)
    except ValueError as error:
        console.print(f"[red]--older-than:[/] {error}")
        raise typer.Exit(2) from None

    async def main() -> retention.Removed:
        async with session_scope(settings) as session:
            return await retention.remove_older_than(session=session, cutoff=utcnow() - age)

    removed = asyncio.run(main())
    console.print(
        f"removed {removed.runs} runs and {removed.events} events older than {older_than}"
    )


def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `90m` or `45s` as a duration."""
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{text!r} is not an age like 30d, 12h, 90m or 45s")
    return timedelta(**{units[unit]: int(number)})


@cli.command()
def migrate() -> None:
    """Upgrade the metadata database to the newest schema."""
    settings = _settings()
    _migrate(settings)
    console.print("metadata database is at the newest schema")


@users_cli.command("create")
def create_user(
    email: Annotated[str, typer.Option(help="E-mail address (the login).")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="Password.")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
    admin: Annotated[bool, typer.Option("--admin", help="Shorthand for --role admin.")] = False,
) -> None:
    """Create a user directly in the metadata database (how the first admin is made)."""
    from app.db import session_scope
    from app.models.user import UserCreate
    from app.services import users as user_service
    from app.validation import parse_model

    settings = _settings()

    async def create() -> str:
        data = parse_model(
            UserCreate, {"email": email, "password": password, "role": "admin" if admin else role}
        )
        async with session_scope(settings) as session:
            return (await user_service.create(session=session, data=data)).id

    try:
        user_id = asyncio.run(create())
    except DataFlowError as error:
        console.print(f"[red]{error.code}:[/] {error.message}")
        raise typer.Exit(1) from None
    console.print(f"user {email} created ({user_id})")


def main() -> None:
    cli()
