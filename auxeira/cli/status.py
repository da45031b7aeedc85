"""``auxeira status [--watch]``: lag, retention, dead letters and store epochs, per consumer.

Thin: :func:`auxeira.operations.status.collect_status` finds everything; this prints it
(a table on stderr, or one JSON document per refresh with ``--json``) and exits 1 when
anything needs attention.
"""

from __future__ import annotations

import time
from functools import partial

import typer
from rich.console import Console
from rich.table import Table

from auxeira.cli.context import context_of
from auxeira.cli.output import OK, PROBLEM
from auxeira.operations.status import collect_status
from auxeira.operations.status_report import ConsumerStatus, StatusReport, Thresholds, iso, span
from auxeira.operations.status_shards import RECORDS_CAP

__all__ = ["status"]


#: How ``--watch`` waits between refreshes (a test replaces this, never ``time.sleep`` itself:
#: other threads of the process sleep too).
pause = time.sleep


def status(
    ctx: typer.Context,
    watch: bool = typer.Option(False, "--watch", help="Refresh every --interval seconds until Ctrl-C."),
    interval: float = typer.Option(5.0, "--interval", min=1.0, help="Seconds between refreshes with --watch."),
    cap: int = typer.Option(RECORDS_CAP, "--cap", min=1, max=1_000_000, help="Records counted behind a checkpoint."),
    lag_minutes: float = typer.Option(5.0, "--lag-minutes", min=0.0, help="Warn when a record waited longer."),
) -> None:
    """Per consumer and shard: checkpoint, records and ms behind the tip, newest event applied,
    time before unprocessed records leave the stream; dead letters; store epochs.

    Locally (the local runner, replays, backfills) from the checkpoint table; on AWS from the event
    source mappings, IteratorAge and NewestAppliedAgeMs. Exit code 1 on any warning or a
    store that lost its state.
    """
    cli = context_of(ctx)
    view = "local" if cli.is_local else "aws"
    thresholds = Thresholds(lag_seconds=lag_minutes * 60)
    env = cli.environment
    code = OK
    try:
        while True:
            report = collect_status(env, view=view, thresholds=thresholds, cap=cap)
            code = PROBLEM if report.problem else OK
            if watch and not cli.as_json:
                cli.out.console.clear()
            cli.out.emit(report.as_dict(), partial(render, report=report))
            if not watch:
                break
            pause(interval)
    except KeyboardInterrupt:
        if not watch:
            raise
    raise typer.Exit(code)


def render(console: Console, report: StatusReport) -> None:
    """The report as tables, warnings last."""
    console.print(f"[bold]{report.env}[/] at {iso(report.at)} ({report.view} view)")
    if report.consumers:
        console.print(_shards_table("consumers (checkpoints)", report.consumers, report.at))
    if report.mappings:
        table = Table("consumer", "source", "state", "last result", "iterator age", "applied age", "retention left")
        for m in report.mappings:
            table.add_row(
                m.consumer,
                m.source_arn.rpartition(":")[2],
                m.state,
                m.last_result,
                _ms(m.iterator_age_ms),
                _ms(m.newest_applied_age_ms),
                span(m.retention_left_seconds),
            )
        console.print(table)
    if report.operations:
        console.print(_shards_table("replays and backfills", report.operations, report.at))
    stores = Table("store", "state", "epoch", "built", title="store epochs")
    for s in report.stores:
        epoch = s.check.marker or s.check.recorded
        style = "red" if s.problem else ""
        stores.add_row(s.check.store, f"[{style}]{s.check.state.value}[/]" if style else s.check.state.value,
                       epoch.id[:12] if epoch else "-", epoch.built_at if epoch else "-")  # fmt: skip
    console.print(stores)
    letters = ", ".join(f"{family} {n}" for family, n in report.dead_letters.items())
    console.print(f"dead letters: {letters}")
    for s in report.stores:
        for line in s.rebuild:
            console.print(f"  [yellow]{s.check.store}:[/] {line}")
    for warning in report.all_warnings:
        console.print(f"[red]warning:[/] {warning}", soft_wrap=True)
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]", soft_wrap=True)
    if not report.problem:
        console.print("[green]ok[/]: nothing behind, nothing at risk, every store holds its build")


def _shards_table(title: str, consumers: list[ConsumerStatus], now: float) -> Table:
    table = Table(
        "consumer", "shard", "checkpoint", "done", "behind", "ms behind", "newest applied", "oldest waiting",
        "retention left", "failures", title=title,
    )  # fmt: skip
    for c in consumers:
        for n, s in enumerate(c.shards):
            parents = f" (of {', '.join(p[-4:] for p in s.parent_ids)})" if s.parent_ids else ""
            oldest = s.oldest_unprocessed_at
            table.add_row(
                c.consumer if n == 0 else "",
                f"{s.shard_id}{parents}{'' if s.listed else ' (trimmed)'}",
                _tail(s.checkpoint),
                "yes" if s.finished else "",
                f"{'>= ' if s.capped else ''}{s.records_behind}" if not s.error else "?",
                "-" if s.millis_behind is None else str(s.millis_behind),
                iso(s.newest_applied_at) or "-",
                span(now - oldest) if oldest else "-",
                span(oldest + c.retention_hours * 3600 - now) if oldest else "-",
                str(c.failure_records) if n == 0 else "",
            )
    return table


def _tail(sequence: str | None) -> str:
    if not sequence:
        return "-"
    return sequence if len(sequence) <= 14 else f"…{sequence[-12:]}"


def _ms(value: float | None) -> str:
    return "-" if value is None else span(value / 1000)
