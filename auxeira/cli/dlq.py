"""``auxeira dlq list | show ID | redrive``: dead letters and failure records, and their redrive.

A thin shell over :mod:`auxeira.operations.dlq`. Exit codes: ``list`` 1 when anything is
set aside (something to look at), 0 when nothing is; ``show`` 1 when the id names
nothing; ``redrive`` 1 when a record is still poison or failed (``--dry-run``: when a
planned item cannot be redriven, e.g. past the stream's retention), 0 otherwise.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from auxeira.cli.context import context_of
from auxeira.cli.output import OK, PROBLEM
from auxeira.operations.dlq import Dlq, Listing, Selection, Summary, parse_since
from schemas.resources import REGISTRY

__all__ = ["app"]

app = typer.Typer(
    help="Dead letters and failure records: list them, show one, redrive them after a fix.", no_args_is_help=True
)

_CONSUMERS = tuple(m.consumer for m in REGISTRY.mappings)
_SHOWN = 50

Consumer = Annotated[str | None, typer.Option("--consumer", help=f"Only this consumer ({', '.join(_CONSUMERS)}).")]
Since = Annotated[str | None, typer.Option("--since", help="Only since: 6h, 2d, or an ISO date or time (UTC).")]
ErrorType = Annotated[
    str | None, typer.Option("--error-type", help="Only this error type (PoisonRecordError, RecordAgeExceeded...).")
]
Failures = Annotated[
    str | None,
    typer.Option(
        "--failures",
        help="The mappings' failure bucket (s3://bucket; default AUXEIRA_FAILURES_ROOT), read besides the lake's failures/.",
    ),
]


@app.command("list")
def list_command(
    ctx: typer.Context,
    consumer: Consumer = None,
    since: Since = None,
    error_type: ErrorType = None,
    failures: Failures = None,
) -> None:
    """List dead letters and failure records, grouped by consumer and error type (exit 1 if any)."""
    cli = context_of(ctx)
    listing = _dlq(ctx, failures).listing(_selection(consumer, since, error_type))
    cli.out.emit(listing.as_dict(), lambda console: _print_listing(console, listing))
    raise typer.Exit(OK if listing.empty else PROBLEM)


@app.command("show")
def show(
    ctx: typer.Context,
    item_id: str = typer.Argument(..., metavar="ID", help="An id from `auxeira dlq list`."),
    failures: Failures = None,
) -> None:
    """Show one dead letter or failure record with its records (Kinesis data decoded to envelopes)."""
    cli = context_of(ctx)
    body = _dlq(ctx, failures).show(item_id)
    if body is None:
        cli.out.error(f"no dead letter or failure record {item_id!r} (ids come from `auxeira dlq list`)")
        raise typer.Exit(PROBLEM)
    cli.out.emit(body, lambda console: _print_item(console, body))


@app.command("redrive")
def redrive(
    ctx: typer.Context,
    consumer: Consumer = None,
    since: Since = None,
    error_type: ErrorType = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the exact plan and change nothing.")] = False,
    failures: Failures = None,
) -> None:
    """Redrive the selected records through their consumer, after the cause is fixed.

    Each one redriven moves to the lake's redriven/ prefix with its outcome; one still
    poison stays where it is with its new cause. Safe to interrupt and run again.
    """
    cli = context_of(ctx)
    dlq = _dlq(ctx, failures)
    steps = dlq.plan(_selection(consumer, since, error_type))
    if dry_run:
        plan = Summary(steps, [], dry_run=True)
        cli.out.emit(plan.as_dict(), lambda console: _print_plan(console, plan))
        stuck = [s for s in steps if s.fetched is not None and s.fetched.retained != "all"]
        raise typer.Exit(PROBLEM if stuck else OK)
    with Progress(
        TextColumn("redriving"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=cli.out.console,
        transient=True,
    ) as bar:
        task = bar.add_task("redrive", total=len(steps))
        summary = dlq.redrive(steps, lambda _result: bar.advance(task))
    cli.out.emit(summary.as_dict(), lambda console: _print_summary(console, summary))
    raise typer.Exit(PROBLEM if summary.problems else OK)


def _dlq(ctx: typer.Context, failures: str | None) -> Dlq:
    return Dlq.of(context_of(ctx).environment, failures)


def _selection(consumer: str | None, since: str | None, error_type: str | None) -> Selection:
    if consumer is not None and consumer not in _CONSUMERS:
        raise typer.BadParameter(f"{consumer!r}: choose one of {', '.join(_CONSUMERS)}", param_hint="--consumer")
    try:
        at = parse_since(since) if since else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    return Selection(consumer, at, error_type)


def _print_listing(console: Console, listing: Listing) -> None:
    if listing.empty:
        console.print("nothing set aside: no dead letters, no failure records")
        return
    groups = _table("consumer", "error type", "dead letters", "failure records", "records", "oldest", "newest")
    for g in listing.groups:
        groups.add_row(
            g.consumer, g.error_type, str(g.dead_letters), str(g.failure_records), str(g.records), g.oldest, g.newest
        )
    console.print(groups)
    items = _table("id", "consumer", "error type", "at", "records", title="items (oldest first per consumer)")
    for item in listing.items[:_SHOWN]:
        records = str(item.batch_size) + ("" if item.records is not None else " (no payload)")
        items.add_row(item.id, item.consumer, item.error_type, item.at, records)
    console.print(items)
    if len(listing.items) > _SHOWN:
        console.print(f"... and {len(listing.items) - _SHOWN} more (--json lists every one)")
    console.print("next: `auxeira dlq show ID`, then after a fix `auxeira dlq redrive --dry-run`")


def _print_item(console: Console, body: dict[str, Any]) -> None:
    console.print(f"[bold]{body['kind'].replace('_', ' ')}[/] {body['id']}")
    console.print(f"consumer {body['consumer']} ({body['mapping']}), {body['error_type']}: {body['message']}")
    console.print(f"shard {body['shard_id']}, sequence {body['first_sequence']} .. {body['last_sequence']}")
    retention = body.get("retention")
    if retention:
        console.print(
            f"no payload: read {retention['read']} of {retention['expected']} from the stream ({retention['retained']})"
        )
        if retention["note"]:
            console.print(f"[yellow]{retention['note']}[/]")
    console.print_json(orjson.dumps(body["records"]).decode())


def _print_plan(console: Console, plan: Summary) -> None:
    if not plan.steps:
        console.print("nothing selected: nothing to redrive")
        return
    table = _table("id", "consumer", "via", "positions", "records", "from", "moves to", title="redrive plan (dry run)")
    for step in plan.steps:
        row = step.as_dict()
        positions = f"{row['shard_id']} {row['first_sequence']}" + (
            f"..{row['last_sequence']}" if row["last_sequence"] != row["first_sequence"] else ""
        )
        source = row["from"] if not step.fetched else f"stream ({step.fetched.retained} retained)"
        table.add_row(row["id"], row["consumer"], row["via"], positions, str(row["records"]), source, row["moves_to"])
    console.print(table)
    for step in plan.steps:
        if step.fetched is not None and step.fetched.note:
            console.print(f"[yellow]{step.item.id}[/]: {step.fetched.note}")
    console.print("nothing was changed; a record still poison would stay where it is")


def _print_summary(console: Console, summary: Summary) -> None:
    counts = ", ".join(f"{n} {outcome}" for outcome, n in summary.counts.items() if n) or "nothing selected"
    console.print(f"redrive: {len(summary.results)} selected: {counts}")
    if summary.problems:
        table = _table("id", "consumer", "outcome", "why", title="still to look at")
        for r in summary.problems:
            table.add_row(r.id, r.consumer, r.outcome, r.note or ", ".join(r.dead_letters))
        console.print(table)


def _table(*headers: str, title: str | None = None) -> Table:
    """A table whose cells wrap instead of being cut: ids are copied from it into ``dlq show``."""
    table = Table(title=title)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table
