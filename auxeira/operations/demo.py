"""``auxeira demo``: the whole pipeline on the local stack, checked end to end.

Steps, in order:

1. start a private local stack (or use the one given) and provision a fresh environment;
2. write the demo dataset through the repository;
3. run the router and the consumers until nothing moves; wait for the TTL
   expiry to happen in DynamoDB and catch up again;
4. compare every projection with the tables' public state;
5. the lake: the archiver archived the run under the run's own lake folder
   (``{lake}/demo-runs/{env}/``); run ``raw_to_curated`` and ``current_state`` on it,
   compare the current tables with the tables, show one query of the analysts' pack
   (:mod:`auxeira.operations.lake_demo`);
6. print a summary, and last, one JSON line.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from auxeira.operations.lake_demo import check_lake
from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline, provision
from consumers.verify import Expected, Mismatch, compare_cache, expected_states, scan_items
from consumers.verify_counters import compare_counters
from consumers.verify_search import compare_search, expected_search_docs
from infra.local import Endpoints, LocalStack, LocalStackSettings
from infra.local.processes import free_port
from infra.local.provision import delete_environment
from producers.demo_dataset import TENANT_NAMES, DemoCounts, write_demo_dataset
from producers.history import HistoryReader
from producers.repository import Repository
from schemas.search_fields import SEARCH_ENTITIES

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    writes: int
    events: int
    #: projection name -> entries it holds for the demo's tenants (cache keys, counter items, ...)
    sizes: dict[str, int]
    #: projection name -> its differences from the tables
    mismatches: dict[str, list[Mismatch]]
    seconds: float
    counts: DemoCounts
    details: dict[str, Any] = field(default_factory=dict)
    #: the lake step: ``lake_rows`` (curated rows), ``query_ok``; its drift is ``mismatches["lake"]``
    lake: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.mismatches.values()) and self.lake.get("query_ok", True)

    def json_line(self) -> bytes:
        line: dict[str, Any] = {"demo": "ok" if self.ok else "failed", "writes": self.writes, "events": self.events}
        line.update(self.sizes)
        if self.lake:
            line.update(lake_rows=self.lake["lake_rows"], lake_drift=len(self.mismatches.get("lake", [])))
            line["query_ok"] = self.lake["query_ok"]
        line["mismatches"] = sum(map(len, self.mismatches.values()))
        line["seconds"] = round(self.seconds, 2)
        return orjson.dumps(line)


def run_demo(lake_root: Path, console: Console, stack_settings: LocalStackSettings | None = None) -> DemoResult:
    """The steps of the module docstring, on ``stack_settings``' stack or, by default, a private one.

    Why a private stack by default: DynamoDB Local's TTL sweeper slows to minutes on an
    instance holding many large TTL tables (after ``auxeira generate``), and the demo
    waits for a real expiry. On its own instance, on free ports, the demo takes the same
    time on a fresh machine and on a used one, and never touches the developer's stack.
    """
    started = time.monotonic()
    with _stack(stack_settings) as (stack, endpoints):
        run_id = time.strftime("%Y%m%d%H%M%S")
        env = f"demo{run_id}"
        # The run's own lake folder: its raw archive, curated and current tables (and dead letters).
        run_lake = Path(lake_root) / "demo-runs" / env
        runtime = provision(endpoints, env=env, lake_root=str(run_lake), search_path=stack.search_path(env))
        try:
            console.print(
                f"[bold]environment[/] {env} on {endpoints.dynamodb_url}, "
                f"{endpoints.kinesis_url}, {endpoints.redis_url}"
            )
            return _run(runtime, [f"{n}-{run_id}" for n in TENANT_NAMES], started, console)
        finally:
            delete_environment(runtime.dynamodb, runtime.kinesis, runtime.env)


@contextmanager
def _stack(settings: LocalStackSettings | None) -> Iterator[tuple[LocalStack, Endpoints]]:
    """A given stack (started if need be, and then stopped again), or a private one on free ports."""
    with tempfile.TemporaryDirectory(prefix="auxeira-demo-") as private:
        if settings is None:
            settings = LocalStackSettings(
                state_dir=Path(private),
                dynamodb_port=free_port(),
                kinesis_port=free_port(),
                redis_port=0,
                node_modules=LocalStackSettings().node_modules.absolute(),
            )
        stack = LocalStack(settings)
        was_running = stack.endpoints() is not None
        endpoints = stack.up()
        try:
            yield stack, endpoints
        finally:
            if not was_running:
                stack.down()


def _run(runtime: LocalRuntime, tenants: list[str], started: float, console: Console) -> DemoResult:
    repo = Repository(runtime.dynamodb, env=runtime.env, history=True)
    counts = write_demo_dataset(repo, tenants)
    console.print(
        f"wrote {counts.writes} changes ({counts.conflicts} lost update race, "
        f"{counts.soft_deletes} soft delete, {counts.hard_deletes} hard delete, "
        f"{len(counts.expiring)} expiring)"
    )
    cache_sink = runtime.cache_sink()
    counter_sink = runtime.counter_sink()
    search_sink = runtime.search_sink()
    pipeline = build_pipeline(runtime, cache_sink, counter_sink=counter_sink, search_sink=search_sink)
    pipeline.run_until_caught_up()
    _wait_for_expiry(repo, counts, console)
    pipeline.run_until_caught_up()
    expected = _expected(runtime, set(tenants))
    mismatches = {
        "cache": compare_cache(expected, cache_sink, tenants),
        "counters": compare_counters(expected, counter_sink, tenants),
        "search": compare_search(expected_search_docs(expected), search_sink, tenants),
        "history": _verify_history(HistoryReader(runtime.dynamodb, env=runtime.env), expected),
    }
    lake = check_lake(runtime, tenants, console)
    mismatches["lake"] = lake.drift
    sizes = {
        "cache_keys": sum(1 for t in tenants for _ in cache_sink.scan_keys(t)),
        "search_docs": sum(search_sink.count(t, s.index) for t in tenants for s in SEARCH_ENTITIES),
        "counters": sum(1 for t in tenants for _ in counter_sink.scan(t)),
    }
    result = DemoResult(
        writes=counts.writes,
        events=pipeline.moved("router:"),
        sizes=sizes,
        mismatches=mismatches,
        seconds=time.monotonic() - started,
        counts=counts,
        details={f"consumed by {name}": pipeline.moved(name) for name in ("cache", "search", "counters", "archiver")},
        lake={"lake_rows": lake.rows, "query_ok": lake.query_ok},
    )
    _print_summary(console, result)
    return result


def _wait_for_expiry(repo: Repository, counts: DemoCounts, console: Console, timeout: float = 240.0) -> None:
    """DynamoDB deletes expired items on its own schedule: hours on AWS, usually seconds on
    DynamoDB Local, but its sweeper slows down when a stack holds many TTL tables (after
    ``auxeira generate``), hence the generous timeout."""
    deadline = time.monotonic() + timeout
    pending = list(counts.expiring)
    with console.status("waiting for DynamoDB to expire the TTL item"):
        while pending and time.monotonic() < deadline:
            pending = [(e, k) for e, k in pending if repo.get(e, k) is not None]
            if pending:
                time.sleep(0.5)
    if pending:
        raise TimeoutError(f"DynamoDB did not expire {pending} within {timeout}s")


def _expected(runtime: LocalRuntime, tenants: set[str]) -> list[Expected]:
    """What every projection should hold: the public state of every item of these tenants."""
    return [
        exp
        for spec in runtime.tables
        for exp in expected_states(spec, scan_items(runtime.dynamodb, spec.physical_name(runtime.env)), tenants)
    ]


def _verify_history(reader: HistoryReader, expected: list[Expected]) -> list[Mismatch]:
    """Every live item has one history entry per version of its current life, ending at its version."""
    found: list[Mismatch] = []
    for exp in expected:
        if exp.version is None:
            continue
        entries = [e for e in reader.entries(exp.entity, exp.key) if e.generation == exp.state.get("created_at")]
        versions = [e.version for e in entries]
        if versions != list(range(1, exp.version + 1)):
            found.append(
                Mismatch(f"{exp.entity} {exp.key}", f"history has versions {versions}, item is v{exp.version}")
            )
    return found


def _print_summary(console: Console, result: DemoResult) -> None:
    table = Table("entity", "creates", title="demo dataset")
    for entity, n in sorted(result.counts.by_entity.items()):
        table.add_row(entity, str(n))
    console.print(table)
    checks = Table("check", "result", title="pipeline")
    checks.add_row("changes written", str(result.writes))
    checks.add_row("events routed to Kinesis", str(result.events))
    for name, moved in result.details.items():
        checks.add_row(f"events {name}", str(moved))
    for name, size in result.sizes.items():
        checks.add_row(name.replace("_", " "), str(size))
    for name, found in result.mismatches.items():
        checks.add_row(f"{name} == tables", "[green]yes[/]" if not found else f"[red]{len(found)} mismatches[/]")
    console.print(checks)
    for name, found in result.mismatches.items():
        for m in found[:20]:
            console.print(f"[red]{name} mismatch[/] {m.key}: {m.reason}")
