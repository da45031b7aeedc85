"""``auxeira local up | down | status``: the emulator stack on this machine."""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table

from infra.local import LocalStack, LocalStackSettings, ServiceStatus

__all__ = ["app"]

app = typer.Typer(help="Start, stop and inspect the local emulator stack (state under .local/).",
                  no_args_is_help=True)
_console = Console()


@app.command()
def up() -> None:
    """Start DynamoDB Local, kinesis-mock and Redis (or reuse the running ones)."""
    endpoints = LocalStack(LocalStackSettings()).up()
    _console.print(f"[green]up[/] dynamodb={endpoints.dynamodb_url} kinesis={endpoints.kinesis_url} "
                   f"redis={endpoints.redis_url}")


@app.command()
def down() -> None:
    """Stop the processes this stack started (never anything else)."""
    stopped = LocalStack(LocalStackSettings()).down()
    _console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command()
def status() -> None:
    """Show each service: running or not, its port and PID."""
    table = Table("service", "state", "details")
    for name, st in LocalStack(LocalStackSettings()).status().items():
        table.add_row(name, "[green]running[/]" if st.running else "[red]stopped[/]", _details(st))
    _console.print(table)


def _details(st: ServiceStatus) -> str:
    fields = {k: v for k, v in asdict(st).items() if k not in ("name", "running") and v is not None}
    return " ".join(f"{k}={v}" for k, v in fields.items())
