"""Where data comes from: `sources add|list|preview`."""

from __future__ import annotations

import json as jsonlib
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.app import JsonOption, client
from app.cli.output import err, moment, print_json, table

if TYPE_CHECKING:
    from app.cli.app import Cli

sources_cli = typer.Typer(help="Register and inspect sources.", no_args_is_help=True)


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; a value that reads as JSON (true, 3, [..]) is taken as such."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--option")
        try:
            options[key] = jsonlib.loads(value)
        except ValueError:
            options[key] = value
    return options


@sources_cli.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A unique name, e.g. orders_csv.")],
    kind: Annotated[
        str,
        typer.Option(
            help="A source kind such as csv, parquet, http or sql; the server lists them all."
        ),
    ],
    uri: Annotated[str, typer.Option(help="Where to read: a path, glob, URL or DSN.")],
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="key=value; repeat for more.")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Register a source."""
    fields = {"name": name, "kind": kind, "uri": uri, "options": parse_options(option or [])}
    source = client(ctx).create_source(fields)
    if json:
        print_json(source)
        return
    err.print(f"source {source['name']} created ({source['id']})")


@sources_cli.command("list")
def list_sources(ctx: typer.Context, json: JsonOption = False) -> None:
    """Every source, newest first."""
    sources = client(ctx).sources()
    if json:
        print_json(sources)
        return
    rows = [
        [s["name"], s["kind"], s["uri"], jsonlib.dumps(s["options"]), moment(s["createdAt"])]
        for s in sources
    ]
    table(["name", "kind", "uri", "options", "created"], rows)


@sources_cli.command("preview")
def preview(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source's name.")],
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    json: JsonOption = False,
) -> None:
    """The first rows of a source as read, with their inferred types."""
    api = client(ctx)
    shown = api.preview_source(api.source_by_name(name)["id"], limit)
    if json:
        print_json(shown)
        return
    columns = [f"{column['name']}\n{column['type']}" for column in shown["columns"]]
    table(columns, shown["rows"], title=f"{name}: {shown['rowsSampled']} rows read")


def register(cli: Cli) -> None:
    cli.add_typer(sources_cli, name="sources", rich_help_panel="Catalog")
