"""Running Alembic from code, so no alembic.ini is needed: `dataflow migrate` uses this.

Developers make a new revision with `uv run python -m app.migrate revision "message"`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

_PACKAGE_DIR = Path(__file__).resolve().parent


def migrations_dir() -> Path:
    """The Alembic scripts: inside the package in an installed copy (the wheel puts the
    top-level `migrations/` there, see pyproject.toml), next to it in a source checkout."""
    installed = _PACKAGE_DIR / "migrations"
    return installed if installed.is_dir() else _PACKAGE_DIR.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "revision":
        command.revision(alembic_config(), message=argv[1], autogenerate=True)
    else:
        sys.exit('usage: python -m app.migrate revision "message"')


if __name__ == "__main__":
    main(sys.argv[1:])
