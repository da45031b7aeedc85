"""``auxeira run``: the local event source mappings, polling until stopped (or until idle)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from auxeira.operations.local_stack_pipeline import build_pipeline, provision
from auxeira.runtime.settings import PipelineSettings
from infra.local import LocalStack, LocalStackSettings

__all__ = ["run"]

_console = Console()


def run(
    until_idle: bool = typer.Option(False, "--until-idle", help="Stop once nothing moves (two idle passes)."),
    shards: int = typer.Option(2, help="Shards of the events stream, if it has to be created."),
) -> None:
    """Route table changes to Kinesis and feed every consumer, on the local stack.

    Checkpoints are per consumer and shard, so a stopped runner resumes where it was.
    """
    settings = PipelineSettings()
    endpoints = LocalStack(LocalStackSettings()).up()
    runtime = provision(endpoints, env=settings.env, lake_root=str(Path(settings.lake_root)), shard_count=shards)
    pipeline = build_pipeline(runtime)
    _console.print(f"running environment [bold]{settings.env}[/] ({len(pipeline.mappings)} mappings)")
    if until_idle:
        stats = pipeline.run_until_caught_up(timeout=3600)
        _console.print(f"caught up: {stats.records} records, {stats.dead_lettered} dead-lettered")
        return
    try:
        while True:
            stats = pipeline.poll()
            if stats.records:
                _console.print(f"{time.strftime('%H:%M:%S')} moved {stats.records} records")
            else:
                time.sleep(0.2)
    except KeyboardInterrupt:
        _console.print("stopped; checkpoints are saved")
