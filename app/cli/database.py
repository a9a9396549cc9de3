"""The metadata database as the process commands meet it: missing, unreachable or not
migrated is one line that says what to do (exit 1), never a traceback, and no command
creates a database it was not asked to create."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.cli.output import err

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection

    from app.config import Settings

EXIT_ERROR = 1
# How long a command waits for the database to answer before saying it cannot reach it.
CONNECT_SECONDS = 10


class DatabaseProblem(Exception):
    """What is wrong with the metadata database, as the one line a person reads."""


def shown_url(url: str) -> str:
    """The URL without its password or driver: postgresql://user:***@host:5432/db."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(sqlite_file(url))
    plain = parsed.set(drivername=parsed.get_backend_name())
    return plain.render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _reason(error: BaseException) -> str:
    """The driver's own words, without SQLAlchemy's statement and background link."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip() or type(original).__name__
    # asyncpg errors read "<class 'asyncpg...Error'>: message"; keep the message.
    return text.split(">: ", 1)[-1].splitlines()[0]


def _unreachable(url: str, error: BaseException) -> DatabaseProblem:
    return DatabaseProblem(
        f"cannot reach the metadata database at {shown_url(url)} ({_reason(error)})"
    )


def _connect_args(url: str) -> dict[str, Any]:
    if make_url(url).get_backend_name() == "postgresql":
        return {"timeout": CONNECT_SECONDS}
    return {}


def _revisions(connection: Connection) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(connection).get_current_heads())


def _newest_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    from app.migrate import alembic_config

    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


async def check_migrated(url: str) -> None:
    """Raise DatabaseProblem unless the database exists, answers, and is at the newest
    schema. A SQLite file is looked for first: connecting would create it."""
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise DatabaseProblem(
            f"there is no metadata database at {path}: run `dataflow migrate` to create it, "
            "or point DATABASE_URL (or DATA_DIR) at an existing one"
        )
    engine = create_async_engine(url, poolclass=NullPool, connect_args=_connect_args(url))
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(_revisions)
    except (OSError, SQLAlchemyError, TimeoutError) as error:
        raise _unreachable(url, error) from None
    finally:
        await engine.dispose()
    if current != _newest_revisions():
        state = "not migrated" if not current else "not at the newest schema"
        raise DatabaseProblem(
            f"the metadata database at {shown_url(url)} is {state}: run `dataflow migrate`"
        )


async def check_reachable(url: str) -> None:
    """Raise DatabaseProblem unless the server answers (a SQLite file may be created)."""
    if sqlite_file(url) is not None:
        return
    engine = create_async_engine(url, poolclass=NullPool, connect_args=_connect_args(url))
    try:
        async with engine.connect():
            pass
    except (OSError, SQLAlchemyError, TimeoutError) as error:
        raise _unreachable(url, error) from None
    finally:
        await engine.dispose()


def exit_with(problem: DatabaseProblem) -> typer.Exit:
    err.print(str(problem), highlight=False, markup=False, soft_wrap=True)
    return typer.Exit(EXIT_ERROR)


def require_migrated(settings: Settings) -> None:
    """For every command that uses the metadata database: ready, or one line and exit 1."""
    try:
        asyncio.run(check_migrated(settings.metadata_url))
    except DatabaseProblem as problem:
        raise exit_with(problem) from None


def upgrade(settings: Settings) -> None:
    """`dataflow migrate` (and `dev`): a SQLite file is created, as asked; a server that
    cannot be reached, or a migration that fails, is one line and exit 1."""
    from alembic.util import CommandError

    from app import migrate

    url = settings.metadata_url
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(check_reachable(url))
        migrate.upgrade(url)
    except DatabaseProblem as problem:
        raise exit_with(problem) from None
    except (OSError, SQLAlchemyError) as error:
        raise exit_with(_unreachable(url, error)) from None
    except CommandError as error:
        failed = f"cannot migrate the metadata database at {shown_url(url)} ({error})"
        raise exit_with(DatabaseProblem(failed)) from None


@contextmanager
def database_errors(settings: Settings) -> Iterator[None]:
    """A command's later trouble with the metadata database (it went away, a lock) as
    one line and exit 1."""
    try:
        yield
    except (OSError, SQLAlchemyError) as error:
        raise exit_with(_unreachable(settings.metadata_url, error)) from None
