"""``auxeira backfill``: a thin shell over :mod:`auxeira.operations.backfill` (and its dry-run plan).

Exit codes: 0 done (or planned); 1 items were refused (the router would not emit them),
could not be put on the stream, or a segment was busy with another backfill (rerun);
2 a bad option, or an unfinished backfill with another segment count; 3 a service did
not answer.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from auxeira.cli.context import context_of
from auxeira.cli.output import OK, PROBLEM
from auxeira.operations.backfill import BackfillResult, tables_of
from auxeira.operations.backfill import backfill as run_backfill
from auxeira.operations.backfill_plan import plan_backfill
from producers.synthetic.ratelimit import parse_rate

__all__ = ["backfill"]


def backfill(
    ctx: typer.Context,
    table: Annotated[str, typer.Option("--table", help="A table (startups, or its physical name), or all.")],
    segments: Annotated[int, typer.Option("--segments", min=1, max=1000, help="Parallel scan segments.")] = 4,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (item counts) and emit nothing.")] = False,
    rate: Annotated[
        str | None, typer.Option("--rate", help="At most N snapshots/s, leaving stream capacity to live writes.")
    ] = None,
) -> None:
    """Emit a snapshot event of every item of a table through the normal path.

    Fills a new projection, or rebuilds one whose stream fell past retention, while live
    traffic flows: a snapshot never overwrites a streamed change. Resumable per segment:
    rerun the same command after a kill.
    """
    cli = context_of(ctx)
    env = cli.environment
    try:
        specs = tables_of(env, table)
        per_second = parse_rate(rate) if rate else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if dry_run:
        found = plan_backfill(env, specs, segments)
        cli.out.emit(found, lambda console: _print_plan(console, found))
        raise typer.Exit(OK)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=cli.out.console,
        transient=True,
    ) as bar:
        tasks = {
            env.table_name(s): bar.add_task(env.table_name(s), total=_estimate(env, env.table_name(s))) for s in specs
        }
        result = run_backfill(
            env, specs, segments=segments, rate=per_second, on_progress=lambda t, n: bar.advance(tasks[t], n)
        )
    cli.out.emit(result.as_dict(), lambda console: _print_result(console, result))
    raise typer.Exit(PROBLEM if result.problem else OK)


def _estimate(env: Any, table: str) -> int | None:
    """DynamoDB's item count (refreshed about every six hours): the bar's total, or None."""
    count = int(env.dynamodb.describe_table(TableName=table)["Table"].get("ItemCount", 0))
    return count or None


def _print_plan(console: Console, found: dict[str, Any]) -> None:
    console.print(f"[bold]backfill plan[/] (dry run, nothing emitted) onto {found['stream']}: {found['items']:,} items")
    for t in found["tables"]:
        title = f"{t['table']}: {t['items']:,} items in {t['segments']} segments"
        table = Table(
            "segment", "start", "items", title=title + (" (a finished backfill: starts over)" if t["restart"] else "")
        )
        for s in t["per_segment"]:
            table.add_row(str(s["segment"]), s["start"], f"{s['items']:,}")
        console.print(table)
    for note in found["notes"]:
        console.print(f"[dim]note:[/] {note}")


def _print_result(console: Console, result: BackfillResult) -> None:
    table = Table("table", "scanned", "emitted", "refused", "not put", "resumed segments", title="backfill")
    for t in result.tables:
        table.add_row(
            t.table, f"{t.scanned:,}", f"{t.emitted:,}", f"{t.refused:,}", f"{t.not_put:,}", str(t.resumed_segments)
        )
    console.print(table)
    for t in result.tables:
        for key, reason in t.refusals:
            console.print(f"[yellow]refused[/] {t.table} {key}: {reason}")
        if t.refused > len(t.refusals):
            console.print(f"  ... {t.refused - len(t.refusals)} more refused in {t.table}")
        for event_id, reason in t.put_failures:
            console.print(f"[red]not put[/] {t.table} event {event_id}: {reason} (rerun to resume)")
        if t.busy_segments:
            console.print(
                f"[red]busy[/] {t.table} segments {t.busy_segments}: another backfill holds them (rerun later)"
            )
