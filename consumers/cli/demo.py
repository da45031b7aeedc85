"""``auxeira demo``: the whole pipeline on the local stack, checked end to end.

Steps, in order:

1. start (or reuse) the local stack and provision a fresh environment;
2. write the demo dataset through the repository;
3. run the router and the consumers until nothing moves; wait for the TTL
   expiry to happen in DynamoDB and catch up again;
4. compare every projection with the tables' public state;
5. print a summary, and last, one JSON line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from consumers.local_runtime import LocalRuntime, build_pipeline, provision
from consumers.sinks.redis_cache import RedisCacheSink
from consumers.verify import Mismatch, compare_cache, expected_states, scan_items
from infra.local import LocalStack, LocalStackSettings
from infra.local.provision import delete_tables
from producers.demo_dataset import TENANT_NAMES, DemoCounts, write_demo_dataset
from producers.repository import Repository

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    writes: int
    events: int
    cache_keys: int
    mismatches: list[Mismatch]
    seconds: float
    counts: DemoCounts
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def json_line(self) -> bytes:
        return orjson.dumps({
            "demo": "ok" if self.ok else "failed", "writes": self.writes, "events": self.events,
            "cache_keys": self.cache_keys, "mismatches": len(self.mismatches),
            "seconds": round(self.seconds, 2),
        })


def run_demo(stack_settings: LocalStackSettings, lake_root: Path, console: Console) -> DemoResult:
    started = time.monotonic()
    stack = LocalStack(stack_settings)
    was_running = stack.endpoints() is not None
    endpoints = stack.up()
    run_id = time.strftime("%Y%m%d%H%M%S")
    runtime = provision(endpoints, env=f"demo{run_id}", lake_root=str(lake_root))
    try:
        console.print(f"[bold]environment[/] demo{run_id} on {endpoints.dynamodb_url}, "
                      f"{endpoints.kinesis_url}, {endpoints.redis_url}")
        return _run(runtime, [f"{n}-{run_id}" for n in TENANT_NAMES], started, console)
    finally:
        delete_tables(runtime.dynamodb, runtime.tables, runtime.env, runtime.checkpoint_table)
        runtime.kinesis.delete_stream(StreamName=runtime.stream_name, EnforceConsumerDeletion=True)
        if not was_running:
            stack.down()


def _run(runtime: LocalRuntime, tenants: list[str], started: float, console: Console) -> DemoResult:
    repo = Repository(runtime.dynamodb, env=runtime.env)
    counts = write_demo_dataset(repo, tenants)
    console.print(f"wrote {counts.writes} changes ({counts.conflicts} lost update race, "
                  f"{counts.soft_deletes} soft delete, {counts.hard_deletes} hard delete, "
                  f"{len(counts.expiring)} expiring)")
    sink = RedisCacheSink(url=runtime.endpoints.redis_url)
    pipeline = build_pipeline(runtime, sink)
    pipeline.run_until_caught_up()
    _wait_for_expiry(repo, counts, console)
    pipeline.run_until_caught_up()
    mismatches = _verify_cache(runtime, sink, tenants)
    cache_keys = sum(1 for t in tenants for _ in sink.scan_keys(t))
    result = DemoResult(
        writes=counts.writes, events=pipeline.moved("router:"), cache_keys=cache_keys,
        mismatches=mismatches, seconds=time.monotonic() - started, counts=counts,
        details={"consumed_by_cache": pipeline.moved("cache")},
    )
    _print_summary(console, result)
    return result


def _wait_for_expiry(repo: Repository, counts: DemoCounts, console: Console, timeout: float = 90.0) -> None:
    """DynamoDB deletes expired items on its own schedule (seconds locally, hours on AWS)."""
    deadline = time.monotonic() + timeout
    pending = list(counts.expiring)
    with console.status("waiting for DynamoDB to expire the TTL item"):
        while pending and time.monotonic() < deadline:
            pending = [(e, k) for e, k in pending if repo.get(e, k) is not None]
            if pending:
                time.sleep(0.5)
    if pending:
        raise TimeoutError(f"DynamoDB did not expire {pending} within {timeout}s")


def _verify_cache(runtime: LocalRuntime, sink: RedisCacheSink, tenants: list[str]) -> list[Mismatch]:
    wanted = set(tenants)
    expected = [
        exp
        for spec in runtime.tables
        for exp in expected_states(spec, scan_items(runtime.dynamodb, spec.physical_name(runtime.env)), wanted)
    ]
    return compare_cache(expected, sink, tenants)


def _print_summary(console: Console, result: DemoResult) -> None:
    table = Table("entity", "writes (creates)", title="demo dataset")
    for entity, n in sorted(result.counts.by_entity.items()):
        table.add_row(entity, str(n))
    console.print(table)
    checks = Table("check", "result", title="pipeline")
    checks.add_row("changes written", str(result.writes))
    checks.add_row("events routed to Kinesis", str(result.events))
    checks.add_row("events consumed by the cache", str(result.details["consumed_by_cache"]))
    checks.add_row("cache keys (incl. tombstones)", str(result.cache_keys))
    checks.add_row("cache == tables", "[green]yes[/]" if result.ok else f"[red]{len(result.mismatches)} mismatches[/]")
    console.print(checks)
    for m in result.mismatches[:20]:
        console.print(f"[red]mismatch[/] {m.key}: {m.reason}")
