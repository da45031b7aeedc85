"""Entry point of the ``auxeira`` command."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from auxeira.cli import counters, local
from auxeira.cli.generate import generate
from auxeira.cli.history import history_command
from auxeira.cli.run import run
from auxeira.cli.search import search as search_command
from auxeira.runtime.settings import PipelineSettings

__all__ = ["app"]

app = typer.Typer(help="Auxeira change-data pipeline.", no_args_is_help=True, add_completion=False)
app.add_typer(local.app, name="local")
app.add_typer(counters.app, name="counters")
app.command()(run)
app.command("history")(history_command)
app.command("search")(search_command)
app.command()(generate)


@app.command()
def demo() -> None:
    """Run the whole pipeline on the local stack and check every projection against the tables.

    The last line printed is one JSON object; the exit code is non-zero on any mismatch.
    """
    from auxeira.cli.demo import run_demo
    from infra.local import LocalStackSettings

    console = Console(stderr=False)
    result = run_demo(LocalStackSettings(), Path(PipelineSettings().lake_root), console)
    sys.stdout.write(result.json_line().decode() + "\n")
    raise typer.Exit(0 if result.ok else 1)


if __name__ == "__main__":
    app()
