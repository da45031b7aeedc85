"""Failure drills at scale: the on-call toolkit proven against crashes, outages, poison and lost retention.

``.venv/bin/python -m bench.drills [--only NAME ...] [--scale bench|test] [--kill-events N] [--events N]``
starts a private local stack on free ports (DynamoDB Local, kinesis-mock, a redis-server;
the developer's stack and ``REDIS_URL`` are never touched), runs each drill in an
environment of its own at :data:`bench.drill_scale.BENCH` (or the size asked for),
prints one summary line per drill on stderr and, last, one JSON line::

    {"bench": "drills", "events": N, "lost": 0, "drift": 0, "dlq_captured": N, "dlq_expected": N,
     "redriven": N, "replay_identical": true, "resumed_identical": true, "erasure_leftovers": 0, "seconds": S}

Every figure is measured: ``events`` written through the repository by every drill;
``lost`` events missing from the lake or whose newest write the cache lacks; ``drift`` the
final ``verify`` (missing + extra + stale) of every projection, summed over the drills;
``dlq_*`` and ``redriven`` from drill 3; ``replay_identical`` drill 4's comparisons,
``resumed_identical`` drill 7's; ``erasure_leftovers`` the leftovers scan after drill 6.
The drills themselves are in ``bench/drill_*.py`` (the integration tests run the same
scenarios at test scale, ``tests/integration/test_drills.py``); each module's docstring
says what its drill proves.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from auxeira.operations.local_stack_pipeline import LocalRuntime, provision
from bench.drill_erase import erase_drill
from bench.drill_kill import kill_drill
from bench.drill_live import DrillResult
from bench.drill_outage import outage_drill
from bench.drill_poison import poison_drill
from bench.drill_replay import replay_drill
from bench.drill_resume import resume_drill
from bench.drill_retention import retention_drill
from bench.drill_scale import BENCH, TEST, Scale
from bench.drill_stage import Stage
from infra.local import LocalStack, LocalStackSettings
from infra.local.processes import free_port
from infra.local.provision import delete_environment

__all__ = ["DRILLS", "main", "passed", "private_stage", "sized", "summarize"]

Drill = Callable[[Stage, Scale], DrillResult]

#: The seven drills of issue 10, in its order.
DRILLS: dict[str, Drill] = {
    "kill": kill_drill,
    "outage": outage_drill,
    "poison": poison_drill,
    "replay": replay_drill,
    "retention": retention_drill,
    "erase": erase_drill,
    "resume": resume_drill,
}


@contextmanager
def private_stage(workdir: Path) -> Iterator[Stage]:
    """A local stack of the bench's own on free ports, and fresh environments on it (removed after)."""
    settings = LocalStackSettings(
        state_dir=workdir / "stack",
        dynamodb_port=free_port(),
        kinesis_port=free_port(),
        redis_url=None,  # a redis-server of its own, whatever REDIS_URL says
        redis_port=0,
        node_modules=LocalStackSettings().node_modules.absolute(),
    )
    stack = LocalStack(settings)
    endpoints = stack.up()
    made: list[LocalRuntime] = []

    def make(shards: int) -> LocalRuntime:
        env = f"dr{uuid.uuid4().hex[:10]}"
        runtime = provision(endpoints, env=env, lake_root=str(workdir / f"lake-{env}"), shard_count=shards)
        made.append(runtime)
        return runtime

    try:
        yield Stage(endpoints, settings, make, workdir)
    finally:
        for runtime in made:
            delete_environment(runtime.dynamodb, runtime.kinesis, runtime.env)
        stack.down()


def summarize(results: list[DrillResult], seconds: float) -> dict[str, Any]:
    """The bench's last line, from the drills' own measurements."""
    facts = {r.drill: r.facts for r in results}
    poison, replayed, resumed, erased = (facts.get(n, {}) for n in ("poison", "replay", "resume", "erase"))
    return {
        "bench": "drills",
        "events": sum(r.events for r in results),
        "lost": sum(r.lost for r in results),
        "drift": sum(r.drift for r in results),
        "dlq_captured": poison.get("dlq_captured"),
        "dlq_expected": poison.get("dlq_expected"),
        "redriven": poison.get("redriven"),
        "replay_identical": replayed.get("identical"),
        "resumed_identical": resumed.get("identical"),
        "erasure_leftovers": erased.get("leftovers"),
        "seconds": round(seconds, 1),
    }


def sized(preset: Scale, kill_events: int | None, events: int | None) -> Scale:
    """``preset`` with drill 1's and the other drills' workloads overridden (drill 7's follows ``events``)."""
    scale = preset if kill_events is None else replace(preset, kill_events=kill_events)
    if events is not None:
        scale = replace(scale, events=events, resume_events=max(50, events // 3))
    return scale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="failure drills on a private local stack")
    parser.add_argument("--only", nargs="*", choices=sorted(DRILLS), help="run only these drills")
    parser.add_argument("--scale", choices=("bench", "test"), default="bench", help="the preset size (default bench)")
    parser.add_argument("--kill-events", type=int, help="drill 1's events (default: the preset's, 20,000 for bench)")
    parser.add_argument("--events", type=int, help="the other drills' events (default: the preset's)")
    args = parser.parse_args(argv)
    scale = sized(BENCH if args.scale == "bench" else TEST, args.kill_events, args.events)
    started = time.monotonic()
    results: list[DrillResult] = []
    crashed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="auxeira-drills-") as tmp, private_stage(Path(tmp)) as stage:
        for name in args.only or DRILLS:
            try:
                result = DRILLS[name](stage, scale)
            except Exception:  # one drill's crash is reported, and the others still run
                crashed.append(name)
                traceback.print_exc(file=sys.stderr)
                continue
            results.append(result)
            print(orjson.dumps(result.summary(), default=str).decode(), file=sys.stderr, flush=True)
    line = summarize(results, time.monotonic() - started)
    if crashed:
        print(f"crashed: {', '.join(crashed)} (their figures are missing from the line)", file=sys.stderr)
    print(orjson.dumps(line).decode(), flush=True)
    return 0 if passed(line) and not crashed else 1


def passed(line: dict[str, Any]) -> bool:
    """What issue 10's "done when" asks of the line (a drill left out is not judged)."""
    return (
        line["lost"] == 0
        and line["drift"] == 0
        and line["dlq_captured"] == line["dlq_expected"]
        and line["replay_identical"] is not False
        and line["resumed_identical"] is not False
        and line["erasure_leftovers"] in (0, None)
    )


if __name__ == "__main__":
    sys.exit(main())
