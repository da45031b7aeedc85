"""``auxeira local up | down | status``: the emulator stack on this machine."""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table

from auxeira.cli.context import context_of
from auxeira.cli.output import OK, PROBLEM
from infra.local import LocalStack, LocalStackSettings, ServiceStatus

__all__ = ["app"]

app = typer.Typer(help="Start, stop and inspect the local emulator stack (state under .local/).", no_args_is_help=True)


def _stack() -> LocalStack:
    return LocalStack(LocalStackSettings())


@app.command()
def up(ctx: typer.Context) -> None:
    """Start DynamoDB Local, kinesis-mock and Redis (or reuse the running ones)."""
    endpoints = _stack().up()
    out = context_of(ctx).out
    out.emit(
        asdict(endpoints) | {"secret_key": "<local>"},
        lambda c: c.print(
            f"[green]up[/] dynamodb={endpoints.dynamodb_url} kinesis={endpoints.kinesis_url} redis={endpoints.redis_url}"
        ),
    )


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the processes this stack started (never anything else); its data goes with them."""
    stopped = _stack().down()
    context_of(ctx).out.emit(
        {"stopped": stopped}, lambda c: c.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    )


@app.command()
def status(ctx: typer.Context) -> None:
    """Show each service: running or not, its port and PID. Exit code 1 if one is not running."""
    services = _stack().status()
    context_of(ctx).out.emit({name: asdict(st) for name, st in services.items()}, lambda c: _print(c, services))
    raise typer.Exit(OK if all(st.running for st in services.values()) else PROBLEM)


def _print(console: Console, services: dict[str, ServiceStatus]) -> None:
    table = Table("service", "state", "details")
    for name, st in services.items():
        table.add_row(name, "[green]running[/]" if st.running else "[red]stopped[/]", _details(st))
    console.print(table)


def _details(st: ServiceStatus) -> str:
    fields = {k: v for k, v in asdict(st).items() if k not in ("name", "running") and v is not None}
    return " ".join(f"{k}={v}" for k, v in fields.items())
