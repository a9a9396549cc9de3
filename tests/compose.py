"""Reading docker-compose.yml and the Dockerfile as the deploy tests check and run them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer.main
import yaml

from app.cli import cli

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
# Compose's interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}.
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@dataclass(frozen=True)
class Service:
    name: str
    spec: dict[str, Any]

    @property
    def command(self) -> list[str]:
        command = self.spec.get("command", [])
        assert isinstance(command, list), f"{self.name}: write the command as a list"
        return [str(part) for part in command]

    @property
    def environment(self) -> dict[str, str]:
        environment = self.spec.get("environment", {})
        assert isinstance(environment, dict), f"{self.name}: write environment as a mapping"
        return {str(key): str(value) for key, value in environment.items()}

    @property
    def runs_dataflow(self) -> bool:
        return self.command[:1] == ["dataflow"]

    def waits_for(self) -> dict[str, str]:
        """The services it depends on, and the condition for each."""
        depends = self.spec.get("depends_on", {})
        if isinstance(depends, list):
            return dict.fromkeys(depends, "service_started")
        return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def load_services() -> dict[str, Service]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    return {name: Service(name, spec) for name, spec in document["services"].items()}


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's substitution of `${…}` from `variables` (standing for the shell's)."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        present = variables.get(name)
        unset_or_empty = not present if op and op.startswith(":") else present is None
        if op and op.endswith("?") and unset_or_empty:
            raise KeyError(f"compose needs {name}: {arg}")
        if op and op.endswith("-") and unset_or_empty:
            return arg
        return present or ""

    return _VARIABLE.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def dataflow_command(argv: list[str]) -> list[str]:
    """The names of the `dataflow` (sub)commands `argv` runs; fails if it is not one,
    or if its options do not parse."""
    assert argv[:1] == ["dataflow"], f"not a dataflow command: {argv}"
    command: Any = typer.main.get_command(cli)
    names: list[str] = []
    rest = argv[1:]
    # Click's public API: a group holds `commands`; `make_context` parses the options.
    while hasattr(command, "commands"):
        assert rest, f"{argv}: names no subcommand"
        name, *rest = rest
        assert name in command.commands, f"{argv}: {name!r} is not a dataflow command"
        command = command.commands[name]
        names.append(name)
    command.make_context(" ".join(["dataflow", *names]), list(rest))
    return names


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    pairs = []
    for line in lines:
        instruction, _, arguments = line.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs
