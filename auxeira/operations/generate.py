"""Synthetic tenants, startups and dashboards written into the pipeline.

Steps, in order:

1. find the running local stack (start it if there is none) and provision the
   environment ``PipelineSettings().env``;
2. build the workload (:mod:`producers.synthetic.plan`) from the options;
3. run it through the repository (table entities; DynamoDB Streams carries them on)
   and the publisher (events with no table), with a progress bar;
4. print a table of what was written per entity, and last, one JSON line.

The exit code is 1 when any write failed (a second run with the same seed fails every
create: the items already exist).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from aws_lambda_powertools import Logger
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from auxeira.operations.local_stack_pipeline import LocalRuntime, provision
from auxeira.runtime.settings import PipelineSettings
from infra.local import LocalStack, LocalStackSettings
from producers.publisher import Publisher
from producers.repository import Repository
from producers.synthetic.config import WorkloadConfig
from producers.synthetic.plan import phases
from producers.synthetic.ratelimit import TokenBucket
from producers.synthetic.workload import Progress as WorkloadProgress
from producers.synthetic.workload import run_workload

__all__ = ["PUBLISHER_NAME", "GenerateOptions", "run_generate", "today"]

#: ``source.publisher`` of the generator's events (and part of their deterministic ids).
PUBLISHER_NAME = "synthetic-generator"
_OUTCOMES = ("created", "updated", "published", "failed", "skipped")


@dataclass(frozen=True)
class GenerateOptions:
    """The command's options, parsed."""

    config: WorkloadConfig
    via: str = "repository"
    rate: float | None = None
    threads: int = 4
    history: bool = True


def run_generate(
    options: GenerateOptions,
    console: Console,
    stack_settings: LocalStackSettings | None = None,
    settings: PipelineSettings | None = None,
) -> dict[str, Any]:
    """Steps 1-4 of the module docstring; returns the workload summary plus ``line``."""
    settings = settings or PipelineSettings()
    stack = LocalStack(stack_settings or LocalStackSettings())
    endpoints = stack.endpoints() or stack.up()
    runtime = provision(
        endpoints,
        env=settings.environment,
        lake_root=settings.lake,
        search_path=stack.search_path(settings.environment),
    )
    config = options.config
    console.print(
        f"[bold]generate[/] {config.tenants} tenants x {config.startups} startups, "
        f"{config.days} days ({config.point_count} points) to {config.as_of}, seed {config.seed}, "
        f"via {options.via} into env {runtime.env!r} on {endpoints.dynamodb_url}"
    )
    started = time.monotonic()
    summary = _run(runtime, options, console)
    seconds = time.monotonic() - started
    _print_summary(console, summary, seconds)
    totals = summary["summary"]
    summary["line"] = {
        "generate": "ok" if totals["failed"] == 0 else "failed",
        "env": runtime.env,
        "tenants": config.tenants,
        "startups": config.tenants * config.startups,
        "days": config.days,
        "seed": config.seed,
        "via": options.via,
        **totals,
        "seconds": round(seconds, 1),
        "ops_per_s": round(totals["total"] / max(seconds, 1e-9), 1),
    }
    return summary


def _run(runtime: LocalRuntime, options: GenerateOptions, console: Console) -> dict[str, Any]:
    units = phases(options.config, options.via)  # type: ignore[arg-type]
    limiter = TokenBucket(options.rate, burst=max(1.0, options.rate / 10)) if options.rate else None
    endpoints, env = runtime.endpoints, runtime.env
    repository = (
        (lambda: Repository(endpoints.dynamodb_client(), env=env, history=options.history))
        if options.via == "repository"
        else None
    )
    # Flush lines at WARNING only: one INFO line per flush would bury the progress bar.
    publisher = Publisher(
        runtime.kinesis,
        runtime.stream_name,
        name=PUBLISHER_NAME,
        logger=Logger(service=PUBLISHER_NAME, level="WARNING"),
    ).start()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("units  {task.fields[ops]} ops  {task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("generating", total=sum(len(p) for p in units), ops=0, failed=0)

            def report(p: WorkloadProgress) -> None:
                bar.update(task, completed=p.units_done, ops=p.ops_done, failed=p.failed)

            return run_workload(
                units,
                repository=repository,
                publisher=publisher,
                threads=options.threads,
                limiter=limiter,
                on_progress=report,
            )
    finally:
        publisher.close()  # flushed by run_workload; this stops the linger timer


def _print_summary(console: Console, summary: dict[str, Any], seconds: float) -> None:
    table = Table("entity", *_OUTCOMES, title="generated")
    for entity, counts in summary["entities"].items():
        table.add_row(entity, *(str(counts.get(o, "")) for o in _OUTCOMES))
    table.add_section()
    table.add_row("[bold]total[/]", *(str(sum(c.get(o, 0) for c in summary["entities"].values())) for o in _OUTCOMES))
    console.print(table)
    totals = summary["summary"]
    console.print(f"{totals['total']} ops in {seconds:.1f}s ({totals['total'] / max(seconds, 1e-9):.0f}/s)")
    for error in summary["errors"]:
        console.print(f"[red]failed[/] {error['unit']} {error['entity']}: {error['error']}")


def today() -> date:
    """Today in UTC (the default ``--as-of``)."""
    return datetime.now(UTC).date()
