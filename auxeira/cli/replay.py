"""``auxeira replay``: a thin shell over :mod:`auxeira.operations.replay` (and its dry-run plan).

Exit codes: 0 done (or planned); 1 records were dead-lettered (the window holds records
a projection refused: ``auxeira dlq list``); 2 a bad option, or a source that cannot
serve the window (the message says which can); 3 a service did not answer.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from auxeira.cli.context import context_of
from auxeira.cli.output import OK, PROBLEM
from auxeira.operations.replay import ProjectionSummary, ReplayRequest, ReplayResult, projections_of
from auxeira.operations.replay import replay as run_replay
from auxeira.operations.replay_plan import ReplayPlan, plan
from auxeira.operations.replay_window import Window, parse_time
from producers.synthetic.ratelimit import parse_rate

__all__ = ["replay"]

_COUNTS = ("read", "applied", "stale", "skipped", "retried", "poison", "dead_lettered")


def replay(
    ctx: typer.Context,
    projection: Annotated[
        str,
        typer.Option(
            "--projection",
            help="cache, search, counters, archive (comma-separated), or all (the three state projections).",
        ),
    ],
    start: Annotated[str, typer.Option("--from", help="Start of the window: an ISO time (UTC if no zone).")],
    end: Annotated[str | None, typer.Option("--to", help="End of the window (default: now).")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="kinesis or lake (default: whichever still holds the window).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the exact plan and change nothing.")] = False,
    rate: Annotated[str | None, typer.Option("--rate", help="At most N records/s into each projection.")] = None,
) -> None:
    """Re-apply the events of a time window to projections, through the live handlers.

    Idempotent (a store keeps only what is newer than what it holds; the counters skip
    what their per-shard watermarks already counted) and resumable: rerun the same
    command after a kill and it continues where it stopped.
    """
    cli = context_of(ctx)
    request = _request(projection, start, end, source, rate)
    env = cli.environment
    if dry_run:
        with _bar(cli.out.console, ["plan"]) as (bar, tasks):
            found = plan(env, request, on_progress=lambda share: bar.update(tasks["plan"], completed=share * 100))
        cli.out.emit(found.as_dict(), lambda console: _print_plan(console, found))
        raise typer.Exit(OK)
    with _bar(cli.out.console, list(request.projections)) as (bar, tasks):

        def progress(state: dict[str, tuple[float, ProjectionSummary]]) -> None:
            for name, (share, summary) in state.items():
                bar.update(tasks[name], completed=share * 100, description=f"{name} {summary.read:,} read")

        result = run_replay(env, request, on_progress=progress)
    cli.out.emit(result.as_dict(), lambda console: _print_result(console, result))
    raise typer.Exit(PROBLEM if result.problem else OK)


def _request(projection: str, start: str, end: str | None, source: str | None, rate: str | None) -> ReplayRequest:
    try:
        projections = projections_of(projection)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--projection") from None
    try:
        window = Window(parse_time(start), parse_time(end) if end else None)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--from/--to") from None
    if source is not None and source not in ("kinesis", "lake"):
        raise typer.BadParameter(f"{source!r}: choose kinesis or lake", param_hint="--source")
    try:
        per_second = parse_rate(rate) if rate else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--rate") from None
    return ReplayRequest(projections, window, source, per_second)


class _bar:
    """Progress bars on stderr, one per name, as percentages of the window read."""

    def __init__(self, console: Console, names: list[str]):
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.names = names

    def __enter__(self) -> tuple[Progress, dict[str, TaskID]]:
        self.progress.__enter__()
        return self.progress, {name: self.progress.add_task(name, total=100) for name in self.names}

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)


def _print_plan(console: Console, found: ReplayPlan) -> None:
    kept = f", stream keeps {found.retention_hours} h" if found.retention_hours else ""
    console.print(
        f"[bold]replay plan[/] (dry run, nothing changed): {found.start.isoformat()} .. {found.end.isoformat()} "
        f"from [bold]{found.source}[/] ({found.stream}{kept}); {found.records:,} records in the window"
    )
    shards = Table("shard", "parents", "start", "first sequence", "last sequence", "records", title="shards")
    for s in found.shards:
        first, last = s.first_sequence or "-", s.last_sequence or "-"
        shards.add_row(s.shard_id, ",".join(s.parents) or "-", s.start, first, last, str(s.records))
    console.print(shards)
    for key in found.objects[:20]:
        console.print(f"  archive object {key}")
    if len(found.objects) > 20:
        console.print(f"  ... and {len(found.objects) - 20} more archive objects")
    for p in found.projections:
        console.print(f"[bold]{p.projection}[/]: {p.records:,} records to deliver, progress kept as {p.consumer}")
        table = Table("event type", "records")
        for event_type, n in sorted(p.event_types.items()):
            table.add_row(event_type, str(n))
        console.print(table)
        resumed = {shard: at for shard, at in p.positions.items() if not at.startswith(("AT_TIMESTAMP", "archive"))}
        for shard, at in resumed.items():
            console.print(f"  {p.projection} resumes {shard} {at}")
        if p.restart:
            console.print(
                f"  {p.projection}: this window was replayed to its end before; it replays again from the start"
            )
    for note in found.notes:
        console.print(f"[dim]note:[/] {note}")


def _print_result(console: Console, result: ReplayResult) -> None:
    table = Table("projection", *_COUNTS, title=f"replay from {result.source}, {result.seconds:.1f} s")
    for p in result.projections:
        table.add_row(p.projection, *(f"{getattr(p, c):,}" for c in _COUNTS))
    console.print(table)
    for p in result.projections:
        if p.resumed_shards:
            console.print(f"{p.projection}: resumed {p.resumed_shards} shard(s) from an earlier run ({p.consumer})")
    marked = [p.projection for p in result.projections if p.marked_built]
    if marked:
        console.print(f"marked built (the stream's whole history was replayed): {', '.join(marked)}")
    if result.problem:
        console.print("[red]records were dead-lettered[/]: see `auxeira dlq list`, redrive after the fix")
