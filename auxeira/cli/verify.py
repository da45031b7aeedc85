"""``auxeira verify --projection P [--sample N] [--repair] [--dry-run]``: drift by key, and its repair.

Thin: :func:`auxeira.operations.verify.run_verify` compares and repairs; this prints the
drift (a table on stderr, or one JSON document with ``--json``) and exits 1 when drift
was found and not repaired.
"""

from __future__ import annotations

from functools import partial

import typer
from rich.console import Console
from rich.table import Table

from auxeira.cli.context import context_of
from auxeira.cli.output import OK, PROBLEM
from auxeira.operations.verify import VerifyOptions, projections_of, run_verify
from auxeira.operations.verify_report import KINDS, ProjectionResult, VerifyReport
from auxeira.operations.verify_scan import DEFAULT_SEGMENTS

__all__ = ["verify"]

#: Drifted keys listed per projection in the human output (--json lists them all).
SHOWN = 50


def verify(
    ctx: typer.Context,
    projection: str = typer.Option(..., "--projection", help="cache, search, counters or all."),
    sample: int | None = typer.Option(None, "--sample", min=1, help="N random items per table (default: all)."),
    repair: bool = typer.Option(False, "--repair", help="Re-emit snapshots of the drifted keys; correct counters."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what --repair would re-emit and write; change nothing."
    ),
    segments: int = typer.Option(
        DEFAULT_SEGMENTS, "--segments", min=1, max=64, help="Parallel scan segments per table."
    ),
    wait: float = typer.Option(120.0, "--wait", min=0.0, help="Seconds to wait for the consumers to apply a repair."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed of --sample."),
) -> None:
    """Compare a projection with the source tables: missing, extra and stale entries by key.

    Counters are verified by recount and repaired by a corrective delta. Exit code 1 when
    drift was found and not repaired.
    """
    cli = context_of(ctx)
    options = VerifyOptions(
        sample=sample,
        segments=segments,
        repair=repair,
        dry_run=dry_run,
        local=cli.is_local,
        wait_seconds=wait,
        seed=seed,
    )
    chosen = projections_of(projection)
    with cli.out.console.status("verifying") as progress:
        report = run_verify(cli.environment, chosen, options, on_progress=lambda text: progress.update(text))
    cli.out.emit(report.as_dict(), partial(render, report=report))
    raise typer.Exit(OK if not report.remaining else PROBLEM)


def render(console: Console, report: VerifyReport) -> None:
    """The comparison, the plan or the repair, and what is left."""
    console.print(_summary("drift", report.results))
    for result in report.results.values():
        for drift in result.drifts[:SHOWN]:
            console.print(f"[red]{result.projection} {drift.kind}[/] {drift.key}: {drift.reason}", soft_wrap=True)
        if len(result.drifts) > SHOWN:
            console.print(f"... and {len(result.drifts) - SHOWN} more {result.projection} drifts (--json lists all)")
        for finding in result.findings[:SHOWN]:
            console.print(f"[yellow]{result.projection} finding[/] {finding}", soft_wrap=True)
    if report.repair is not None:
        plan = report.repair
        verb = "would re-emit" if plan.dry_run else "re-emitted"
        console.print(f"{verb} {len(plan.envelopes)} envelopes; {'would correct' if plan.dry_run else 'corrected'} "
                      f"{len(plan.counter_fixes) if plan.dry_run else plan.counters_fixed} counter items")  # fmt: skip
        if plan.dry_run:
            for e in plan.envelopes[:SHOWN]:
                console.print(
                    f"  emit {e['event_type']} {e['tenant']} {e['key']} v{e['version']} seq {e['sequence'] or 0}"
                )
            for fix in plan.counter_fixes[:SHOWN]:
                console.print(f"  counters {fix['tenant']} {fix['parent_key']}: add {fix['add']} set {fix['set']}")
        for line in plan.unrepairable + plan.emit_failures:
            console.print(f"[red]not repaired[/] {line}", soft_wrap=True)
        if plan.message:
            console.print(plan.message)
    if report.after is not None:
        console.print(_summary("after the repair", report.after))
    outcome = {"ok": "[green]no drift[/]", "repaired": "[green]repaired: no drift left[/]"}
    console.print(outcome.get(report.outcome, f"[red]{report.remaining} drifted keys left[/]"))


def _summary(title: str, results: dict[str, ProjectionResult]) -> Table:
    table = Table("projection", "items", "entries", *KINDS, title=title)
    for r in results.values():
        counts = r.counts()
        table.add_row(
            r.projection + (" (sample)" if r.sampled else ""),
            str(r.items_checked),
            str(r.entries_checked),
            *(str(counts[k]) for k in KINDS),
        )
    return table
