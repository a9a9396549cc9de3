"""The root `dataflow` command: global options, and API errors turned into exit codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from app.cli.output import err
from app.client import (
    AuthError,
    ClientError,
    ConnectionFailed,
    DataFlowClient,
    resolve_credentials,
)

EXIT_ERROR = 1  # the API refused, or a run failed
EXIT_USAGE = 2  # click's own, for bad options
EXIT_AUTH = 3  # no or bad credentials, or a role too small
EXIT_CANCELLED = 4  # a followed run was cancelled

Cli = typer.Typer
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@dataclass
class Target:
    """The API this invocation talks to; connected (and logged in) on first use."""

    url: str | None = None
    token: str | None = None
    _client: DataFlowClient | None = field(default=None, repr=False)

    def client(self) -> DataFlowClient:
        if self._client is None:
            self._client = DataFlowClient.connect(
                resolve_credentials(url=self.url, token=self.token)
            )
        return self._client


def client(ctx: typer.Context) -> DataFlowClient:
    target: Target = ctx.ensure_object(Target)
    return target.client()


def fail(error: ClientError) -> int:
    """Print a client error as `CODE: message` (with a hint) and return its exit code."""
    err.print(f"[red]{error.code}:[/] {error.message}", highlight=False)
    if isinstance(error, AuthError):
        if error.code == "FORBIDDEN":
            err.print("hint: log in as a user with that role: `dataflow login`")
        else:
            err.print(
                "hint: run `dataflow login`, or set DATAFLOW_TOKEN (a token or API key), "
                "or DATAFLOW_ADMIN_EMAIL and DATAFLOW_ADMIN_PASSWORD for a local dev server"
            )
        return EXIT_AUTH
    if isinstance(error, ConnectionFailed) and error.code == "CONNECTION_FAILED":
        err.print("hint: is the API running there? Point at it with --url or DATAFLOW_URL")
    return EXIT_ERROR


class ClientErrorsGroup(TyperGroup):
    """Every command's ClientError ends the process the same way."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context, not public API
        try:
            return super().invoke(ctx)
        except ClientError as error:
            raise typer.Exit(fail(error)) from None


def create_cli() -> Cli:
    cli = typer.Typer(
        cls=ClientErrorsGroup,
        help="DataFlow: ingest, transform with Polars, load, serve over GraphQL.",
        no_args_is_help=True,
    )

    @cli.callback()
    def root(
        ctx: typer.Context,
        url: Annotated[
            str | None,
            typer.Option(
                envvar="DATAFLOW_URL",
                help="The API, e.g. https://dataflow.example.com (default http://127.0.0.1:8000"
                " or the one you logged in to).",
            ),
        ] = None,
        token: Annotated[
            str | None,
            typer.Option(envvar="DATAFLOW_TOKEN", help="An access token or API key."),
        ] = None,
    ) -> None:
        """DataFlow: ingest, transform with Polars, load, serve over GraphQL."""
        ctx.obj = Target(url=url, token=token)

    return cli
