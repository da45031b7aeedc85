"""``auxeira lake run JOB [--from DATE --to DATE]`` and ``auxeira lake stats``.

``run`` runs a Glue job's own code on the environment's lake (``AUXEIRA_LAKE_ROOT``):
``raw_to_curated``, ``current_state`` or ``compact``, in local Spark by default or with
``--engine arrow`` (pyarrow alone), with a progress bar on stderr and the run's counts
as JSON with ``--json``. ``--from``/``--to`` re-run a window of arrival days;
``--mark processed|unprocessed`` only sets or resets the window's state.
``stats`` shows files, rows and bytes per table and partition.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from auxeira.cli.context import context_of

__all__ = ["app"]

app = typer.Typer(help="The lake: run its jobs, see what it holds.", no_args_is_help=True)


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=flag) from None


@app.command("run")
def run(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="raw_to_curated, current_state or compact.")],
    start: Annotated[str | None, typer.Option("--from", help="First arrival day of the window (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last arrival day of the window (YYYY-MM-DD).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="spark (the Glue job's) or arrow (no JVM).")] = "spark",
    mark: Annotated[
        str | None, typer.Option("--mark", help="processed or unprocessed: set or reset the window's state only.")
    ] = None,
    pii_key_secret: Annotated[
        str | None, typer.Option("--pii-key-secret", help="Secrets Manager id of the pii key (an s3:// lake).")
    ] = None,
) -> None:
    """Run one lake job on the environment's lake."""
    from auxeira.operations.lake import JOBS, run_job

    if job not in JOBS:
        raise typer.BadParameter(f"choose one of {', '.join(JOBS)}", param_hint="JOB")
    first, last = _day(start, "--from"), _day(end, "--to")
    if (first is None) != (last is None):
        raise typer.BadParameter("--from and --to go together", param_hint="--from/--to")
    cli = context_of(ctx)
    extra = ["--env", cli.settings.environment]
    if pii_key_secret:
        extra += ["--pii-key-secret", pii_key_secret]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=cli.out.console, transient=True) as bar:
        task = bar.add_task(job, total=None)

        def progress(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=f"{job}: {what.rsplit('/', 1)[-1]}")

        result = run_job(
            job, cli.settings.lake, engine=engine, start=first, end=last, mark=mark, extra=extra, progress=progress
        )
    body = result.as_dict()
    cli.out.emit(body, lambda c: c.print(_summary(body)))


def _summary(body: dict) -> Table:
    table = Table(
        "table",
        "rows",
        title=f"{body['job']} ({body['engine']}): {body['objects']} objects, {body['events']} events, {body['duplicates']} duplicates dropped",
    )
    for name, rows in sorted(body["rows"].items()):
        table.add_row(name, str(rows))
    return table


@app.command("stats")
def stats(
    ctx: typer.Context,
    table: Annotated[
        str | None, typer.Option("--table", help="Only this table (curated_startup, raw_events...).")
    ] = None,
) -> None:
    """Files, rows and bytes per table and partition of the environment's lake."""
    from auxeira.operations.lake import lake_stats
    from auxeira.runtime.objects import object_store

    cli = context_of(ctx)
    found = [s for s in lake_stats(object_store(cli.settings.lake)) if table is None or s.table == table]
    rows = [
        {"table": s.table, "partition": s.partition, "files": s.files, "rows": s.rows, "bytes": s.bytes} for s in found
    ]

    def human(console: Console) -> None:
        view = Table("table", "partition", "files", "rows", "bytes", title=f"lake {cli.settings.lake}")
        for s in found:
            view.add_row(s.table, s.partition, str(s.files), "-" if s.rows is None else str(s.rows), str(s.bytes))
        console.print(view)

    cli.out.emit(rows, human)
    raise typer.Exit(0 if rows else 1)
