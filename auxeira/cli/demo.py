"""``auxeira demo``: the whole pipeline on a private local stack, checked end to end."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer

from auxeira.cli.context import context_of
from auxeira.cli.output import OK, PROBLEM
from auxeira.operations.demo import run_demo

__all__ = ["demo"]


def demo(ctx: typer.Context) -> None:
    """Run the whole pipeline on a private local stack and check every projection against the tables.

    The last line printed (stdout) is one JSON object; the exit code is 1 on any mismatch.
    """
    cli = context_of(ctx)
    result = run_demo(Path(cli.settings.lake), cli.out.console)
    cli.out.json_line(orjson.loads(result.json_line()))
    raise typer.Exit(OK if result.ok else PROBLEM)
