"""The events-stream consumers of one environment as a process of their own: what drill 1 kills.

``python -m bench.drill_runner [--until-idle]`` reads the environment from the same
``AUXEIRA_*`` variables as ``auxeira`` (:meth:`bench.drill_stage.Stage.variables`) and runs
the consumer mappings of :func:`~auxeira.operations.local_stack_pipeline.build_pipeline`
(cache, search, counters, archiver), not the routers: on AWS each consumer is its own
Lambda and the router another, so a consumer crash leaves routing alone. Checkpoints and
leases are the mappings' own; a successor takes over a killed runner's leases at once
(its ``host:pid`` is gone). It prints ``{"ready": ...}`` after its first pass and, when it
stops cleanly, the counts per consumer.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import orjson

from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from auxeira.runtime.observability import StatsObserver
from auxeira.runtime.settings import OperatorSettings, load
from infra.local import LocalStack, LocalStackSettings
from schemas.resources import CHECKPOINTS_TABLE, REGISTRY

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--until-idle", action="store_true", help="stop once nothing moves")
    args = parser.parse_args(argv)
    settings: OperatorSettings = load(OperatorSettings)
    endpoints = LocalStack(LocalStackSettings()).endpoints()
    if endpoints is None:
        print("no local stack is running", file=sys.stderr)
        return 2
    env = settings.environment
    runtime = LocalRuntime(
        replace(endpoints, redis_url=settings.redis_url or endpoints.redis_url),
        env,
        REGISTRY.stream.physical_name(env),
        CHECKPOINTS_TABLE.physical_name(env),
        {},  # no table streams: consumers only
        settings.lake,
        search_path=settings.search_path,
    )
    stats = StatsObserver()
    pipeline = build_pipeline(runtime, observer=stats)
    try:
        pipeline.poll()
        _say({"ready": [m.owner for m in pipeline.mappings]})
        if args.until_idle:
            pipeline.run_until_caught_up(timeout=3600)
        else:
            while True:
                if pipeline.poll().idle:
                    time.sleep(0.05)
    finally:
        pipeline.release()
    _say({"stopped": {name: s.as_dict() for name, s in sorted(stats.totals.items())}})
    return 0


def _say(body: object) -> None:
    sys.stdout.write(orjson.dumps(body).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
