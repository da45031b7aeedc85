"""``auxeira run``: the local event source mappings, polling until stopped (or until idle)."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from auxeira.cli.context import context_of
from auxeira.cli.output import Output
from auxeira.operations.local_stack_pipeline import build_pipeline, provision
from auxeira.runtime.local_pipeline import LocalPipeline
from auxeira.runtime.observability import StatsObserver
from auxeira.runtime.sinks import BatchStats
from infra.local import LocalStack, LocalStackSettings

__all__ = ["run"]


def run(
    ctx: typer.Context,
    until_idle: bool = typer.Option(False, "--until-idle", help="Stop once nothing moves (two idle passes)."),
    shards: int = typer.Option(2, min=1, max=64, help="Shards of the events stream, if it has to be created."),
) -> None:
    """Route table changes to Kinesis and feed every consumer, on the local stack.

    Checkpoints are per consumer and shard, so a stopped runner resumes where it was. The
    counts per consumer (records, applied, stale, skipped, retried, poison, dead-lettered)
    are the ones each deployed handler logs and emits as metrics.
    """
    cli = context_of(ctx)
    settings = cli.settings
    stack = LocalStack(LocalStackSettings())
    endpoints = stack.up()
    runtime = provision(
        endpoints,
        env=settings.environment,
        lake_root=settings.lake,
        shard_count=shards,
        search_path=stack.search_path(settings.environment),
    )
    stats = StatsObserver()
    pipeline = build_pipeline(runtime, observer=stats)
    out = cli.out
    out.say(f"running environment [bold]{settings.env}[/] ({len(pipeline.mappings)} mappings)")
    try:
        if until_idle:
            pipeline.run_until_caught_up(timeout=3600)
        else:
            _forever(pipeline, stats, out)
    except KeyboardInterrupt:
        out.say("stopped; checkpoints are saved")
    finally:
        pipeline.release()
    totals = {name: s.as_dict() for name, s in sorted(stats.totals.items())}
    out.emit({"run": "stopped", "env": settings.env, "consumers": totals}, lambda c: c.print(_table(stats.totals)))


def _forever(pipeline: LocalPipeline, stats: StatsObserver, out: Output) -> None:
    last = time.monotonic()
    while True:
        moved = pipeline.poll()
        if time.monotonic() - last >= 5 and moved.records:
            out.console.print(_table(stats.totals))
            last = time.monotonic()
        if not moved.records:
            time.sleep(0.2)


def _table(totals: dict[str, BatchStats]) -> Table:
    columns = ("records", "applied", "stale", "skipped", "retried", "poison", "dead_lettered")
    table = Table("consumer", *columns, title=time.strftime("%H:%M:%S"))
    merged: dict[str, BatchStats] = {}
    for name, s in totals.items():
        merged.setdefault(name.partition(":")[0], BatchStats()).add(s)
    for name, s in sorted(merged.items()):
        table.add_row(name, *(str(getattr(s, c)) for c in columns))
    return table
