"""The `dataflow` command: processes, and a GraphQL client of a running API for the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.cli import access, operations, pipelines, processes, runs, sources
from app.cli.app import create_cli

if TYPE_CHECKING:
    from collections.abc import Sequence

cli = create_cli()
processes.register(cli)
access.register(cli)
sources.register(cli)
pipelines.register(cli)
runs.register(cli)
operations.register(cli)

_ROOT_OPTIONS = ("--url", "--token")


def main() -> None:
    cli()


def run_command(command: Sequence[str], argv: Sequence[str], prog_name: str) -> None:
    """Run one `dataflow` command for a script in scripts/: `--url` and `--token` may come
    anywhere in `argv`, though the command line wants them before the command."""
    root: list[str] = []
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg.split("=", 1)[0] in _ROOT_OPTIONS:
            root.append(arg)
            if "=" not in arg:
                root.append(next(args, ""))
        else:
            rest.append(arg)
    cli([*root, *command, *rest], prog_name=prog_name)
