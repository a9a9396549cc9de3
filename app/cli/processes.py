"""Process commands: the API (dev, serve), workers, the scheduler, migrations."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.output import err
from app.config import Settings, load_settings
from app.errors import ConfigError

if TYPE_CHECKING:
    from app.cli.app import Cli


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        err.print(f"[red]configuration error:[/] {error.message}")
        raise typer.Exit(2) from None


def _migrate(settings: Settings) -> None:
    from app.cli.database import upgrade

    upgrade(settings)


def _require_migrated(settings: Settings) -> None:
    from app.cli.database import require_migrated

    require_migrated(settings)


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from app.cli.server import create_app
    from app.logs import configure_logging

    configure_logging(settings.log_level)
    # No permessage-deflate: it compresses each frame once per connection (its state is
    # the connection's), so one run event cost 500 compressions at 500 subscribers, 12%
    # of the API's CPU, to save a few dozen bytes of a ~150-byte frame.
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
    )


def dev(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    demo: Annotated[bool, typer.Option(help="Add a sample CSV, source and pipeline.")] = False,
) -> None:
    """Run the API with in-process workers on the embedded backends, migrated on start."""
    from app import bootstrap

    settings = settings_or_exit()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _migrate(settings)
    credentials = bootstrap.admin_from_environment() or bootstrap.AdminCredentials(
        bootstrap.DEV_ADMIN_EMAIL, bootstrap.DEV_ADMIN_PASSWORD
    )
    if asyncio.run(bootstrap.ensure_first_admin(settings, credentials)):
        err.print(f"admin created: {credentials.email} / {credentials.password}")
    if demo:
        installed = asyncio.run(bootstrap.install_demo(settings))
        if installed:
            err.print(installed)
    err.print(f"DataFlow is running at http://{host}:{port}/graphql (GraphiQL in a browser)")
    _serve(settings, host, port)


def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "0.0.0.0",  # noqa: S104
) -> None:
    """Run the API only (production): migrations and workers run separately."""
    from app import bootstrap

    settings = settings_or_exit()
    _require_migrated(settings)
    credentials = bootstrap.admin_from_environment()
    if credentials and asyncio.run(bootstrap.ensure_first_admin(settings, credentials)):
        err.print(f"admin created: {credentials.email}")
    _serve(settings, host, port)


# How long an idle Dramatiq consumer may sleep between two looks at Redis, in ms: its
# backoff grows to this (with jitter, 50-100% of it). Dramatiq's 1000 left a run
# triggered at an idle worker queued for 0.5-1 s; at 200 an idle worker process makes
# about 15 small Redis calls a second (one per queue, runs and its delay queue).
WORKER_POLL_MS = 200


def dramatiq_environment() -> None:
    """Dramatiq's own settings for a worker, unless the environment gives them: set before
    Dramatiq is first imported, which reads them once (its worker processes fork after)."""
    os.environ.setdefault("dramatiq_worker_timeout", str(WORKER_POLL_MS))


def worker(
    processes: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    threads: Annotated[int, typer.Option(help="Threads per process.")] = 2,
) -> None:
    """Run Dramatiq worker processes against REDIS_URL."""
    settings = settings_or_exit()
    if settings.redis_url is None:
        err.print("[red]REDIS_URL is not set:[/] `dataflow dev` runs workers in-process")
        raise typer.Exit(2)
    _require_migrated(settings)
    dramatiq_environment()
    from dramatiq.cli import main, make_argument_parser

    from app.logs import configure_logging

    # Dramatiq's own start-up, in this process so that its lines are our JSON ones too
    # (its worker processes switch to them as they boot: actors/broker.py).
    configure_logging(settings.log_level)
    options = ["actors", "--processes", str(processes), "--threads", str(threads)]
    args = make_argument_parser().parse_args([*options, "--skip-logging"])  # type: ignore[no-untyped-call]
    raise typer.Exit(main(args))  # type: ignore[no-untyped-call]


def scheduler() -> None:
    """Fire due schedule ticks and reap lost runs, until stopped (run one or more)."""
    from actors.runs import enqueue_run
    from app.logs import configure_logging
    from app.scheduler import run_forever

    settings = settings_or_exit()
    _require_migrated(settings)
    configure_logging(settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_forever(settings, enqueue_run, stop)

    logging.getLogger("dataflow.scheduler").info(  # a JSON line, like the rest of its log
        "scheduler running (every %g s)", settings.scheduler_interval_seconds
    )
    asyncio.run(main())


def migrate() -> None:
    """Upgrade the metadata database to the newest schema."""
    settings = settings_or_exit()
    _migrate(settings)
    err.print("metadata database is at the newest schema")


def register(cli: Cli) -> None:
    for command in (dev, serve, worker, scheduler, migrate):
        cli.command(rich_help_panel="Processes")(command)
