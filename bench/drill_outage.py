"""Drill 2: Redis stopped mid-run for a while, then started again empty (it keeps nothing on disk).

The cache of the drill's environment lives in a redis-server of the drill's own
(:class:`bench.drill_faults.PrivateRedis`), so the session's Redis, which other tests use,
is never stopped or flushed. While it is down the cache consumer's batches fail as
retryable and its shards wait (backoff), nothing is dead-lettered or given up; once it is
back it resumes from its checkpoints, but what the cache held before the outage is gone:
the store's epoch marker went with it, which the consumers' epoch guard and
``auxeira status`` report as ``reset``. ``auxeira backfill --table all`` (the command
``status`` points to) rebuilds it, and marks the store built again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

from redis import Redis

from auxeira.operations.status import collect_status
from bench.drill_checks import dead_letters, drift, drifted, losses
from bench.drill_faults import PrivateRedis
from bench.drill_live import DrillResult, Traffic, live
from bench.drill_scale import TENANTS, Scale
from bench.drill_stage import Stage, catch_up, environment_of
from bench.drill_workload import plan_ops

__all__ = ["outage_drill"]


def outage_drill(stage: Stage, scale: Scale) -> DrillResult:
    """GIVEN live traffic consumed through a cache on a redis-server of the drill's own
    WHEN that Redis is stopped once a third of the events are written, for ``scale.outage_seconds``,
         and started again empty while traffic flows on
    THEN no batch was given up or dead-lettered, and the cache is ``reset`` for ``status``
         (exit 1, pointing at backfill) while the other stores are ``ok``
    WHEN ``auxeira backfill --table all`` runs and the consumers apply its snapshots
    THEN status finds every store ``ok``, nothing was lost, and verify finds no drift.
    """
    started = time.monotonic()
    redis = PrivateRedis(stage.workdir / "outage-redis").start()
    try:
        return _drill(stage, scale, redis, started)
    finally:
        redis.stop()


def _drill(stage: Stage, scale: Scale, redis: PrivateRedis, started: float) -> DrillResult:
    rt = stage.runtime(scale.shards)
    rt.endpoints = replace(rt.endpoints, redis_url=redis.url)
    ops = plan_ops(scale.events, seed=2, tenants=TENANTS)
    outage: dict[str, Any] = {}

    def back_up(traffic: Traffic) -> None:
        try:
            redis.start()
        except Exception as exc:  # the drill's own failure: reported after the run, never a hang
            outage["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            outage["up_at"], outage["written_at_start"] = time.monotonic(), traffic.ledger.events

    def during(traffic: Traffic) -> None:
        if "down_at" not in outage and traffic.ledger.events >= len(ops) // 3:
            outage["cached_before"] = sum(1 for _ in redis_keys(redis, rt.env))
            redis.stop()
            outage["down_at"], outage["written_at_stop"] = time.monotonic(), traffic.ledger.events
            # On a timer, not between passes: a pass against a Redis that is down outlasts the outage.
            timer = threading.Timer(scale.outage_seconds, back_up, args=(traffic,))
            timer.daemon = True
            timer.start()

    # Writes slow enough that traffic flows through the whole outage, and after it.
    rate = len(ops) / (3 * scale.outage_seconds)
    traffic = live(rt, ops, rate=rate, during=during, hold=lambda _t: "up_at" not in outage)
    if "error" in outage:
        raise RuntimeError(f"the drill's redis-server did not start again: {outage['error']}")
    env = environment_of(rt)
    after_outage = collect_status(env)
    stores = {s.check.store: s for s in after_outage.stores}
    facts: dict[str, Any] = {
        "outage_seconds": round(outage["up_at"] - outage["down_at"], 1),
        "cached_before": outage["cached_before"],
        "written_during": outage["written_at_start"] - outage["written_at_stop"],
        "written_after": traffic.ledger.events - outage["written_at_start"],
        "letters": len(dead_letters(env)),
        "failure_records": sum(1 for _ in env.failure_records().list()),
        "drift_before_rebuild": sum(len(v) for v in drifted(drift(env)).values()),
        "store_states": {name: s.check.state.value for name, s in stores.items()},
        "status_problem": after_outage.problem,
        "rebuild_hint": list(stores["cache"].rebuild),
    }
    rebuilt = stage.run(rt, "backfill", "--table", "all", "--segments", "2")
    catch_up(rt)
    healed = collect_status(env)
    facts.update(
        backfill_exit=rebuilt.code,
        backfill_emitted=sum(t.get("emitted", 0) for t in rebuilt.body.get("tables", [])),
        states_after={s.check.store: s.check.state.value for s in healed.stores},
        rebuilt_by=next(
            (s.check.recorded.by for s in healed.stores if s.check.store == "cache" and s.check.recorded), None
        ),
    )
    report = drift(env)
    facts["drift_after"] = drifted(report)
    lost = losses(traffic.ledger, env)
    facts["lost_detail"] = {"not_archived": len(lost.not_archived), "not_cached": len(lost.not_cached)}
    return DrillResult("outage", traffic.ledger.events, lost.count, report.drift, time.monotonic() - started, facts)


def redis_keys(redis: PrivateRedis, namespace: str) -> list[bytes]:
    return list(Redis.from_url(redis.url).scan_iter(match=f"aux:{namespace}:*", count=1000))
