"""Drill 3: poison records mixed into live traffic, dead-lettered with their payload, redriven after the fix.

The fault is a bad release of the cache and search consumers (:mod:`bench.drill_faults`):
it refuses, as poison, entries whose text goes beyond ASCII, and the workload carries such
documents in a given share of its events. A fault-free twin of both consumers reads the
same stream (the control group), so "every good record applied" is checked entry by entry
rather than inferred from counts, and so is "redrive applies them".
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from auxeira.operations.environment import Environment
from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from auxeira.runtime.observability import StatsObserver
from bench.drill_checks import dead_letters, drift, drifted, letter_envelopes, losses
from bench.drill_faults import FaultyCache, FaultySearch, Twin
from bench.drill_live import DrillResult, Traffic, live
from bench.drill_scale import TENANTS, Scale
from bench.drill_snapshots import Snapshot, snapshot
from bench.drill_stage import Stage, environment_of
from bench.drill_workload import plan_ops

__all__ = ["FAULTED", "FaultyRun", "faulty_run", "poison_drill"]

#: The consumers of the faulty release (the counters hold no text, and are not affected).
FAULTED = ("cache", "search")
_INDEX = {"document": "documents"}


@dataclass
class FaultyRun:
    """A live run through the faulty release, next to its fault-free twin."""

    runtime: LocalRuntime
    env: Environment
    twin: Twin
    traffic: Traffic
    stats: StatsObserver

    def stores(self) -> tuple[Snapshot, Snapshot]:
        """(the faulted stores, the twin's): cache and search."""
        rt, redis = self.runtime, self.runtime.endpoints.redis()
        mine = snapshot(redis, rt.env, rt.search_path or "", rt.dynamodb, rt.env, FAULTED)
        theirs = snapshot(redis, self.twin.namespace, self.twin.search_path, rt.dynamodb, rt.env, FAULTED)
        return mine, theirs

    def poison_keys(self) -> tuple[set[str], set[tuple[str, str]]]:
        """The snapshot keys of the poison records: ``tenant:entity:key`` and ``(index, key)``."""
        found = self.traffic.ledger.poison()
        return {f"{t}:{e}:{k}" for t, e, k, _ in found}, {(_INDEX[e], k) for _, e, k, _ in found}


def faulty_run(stage: Stage, scale: Scale, share: float, seed: int) -> FaultyRun:
    """``scale.events`` events, ``share`` of them poison, through the faulty release (and the twin)."""
    rt = stage.runtime(scale.shards)
    twin, stats = Twin(rt), StatsObserver()
    pipeline = build_pipeline(
        rt,
        FaultyCache(url=rt.endpoints.redis_url, namespace=rt.env),
        search_sink=FaultySearch(rt.search_path or ""),
        observer=stats,
    )
    pipeline.mappings += twin.mappings()
    ops = plan_ops(scale.events, seed=seed, tenants=TENANTS, poison_share=share)
    return FaultyRun(rt, environment_of(rt), twin, live(rt, ops, pipeline=pipeline), stats)


def poison_drill(stage: Stage, scale: Scale) -> DrillResult:
    """GIVEN the faulty release of the cache and search consumers, and a fault-free twin of both
    WHEN live traffic carries ``scale.poison_share`` poison records
    THEN each poison record is a dead letter of each faulted consumer, with its payload; every
         other record is applied (the faulted stores equal the twin's but for exactly the poison keys)
    WHEN the fixed release is deployed and ``auxeira dlq redrive`` runs
    THEN every letter is applied and archived, the stores equal the twin's, nothing is left
         set aside, and verify finds no drift.
    """
    started = time.monotonic()
    run = faulty_run(stage, scale, scale.poison_share, seed=3)
    facts = caught(run)
    plan = stage.run(run.runtime, "dlq", "redrive", "--dry-run")
    fixed = stage.run(run.runtime, "dlq", "redrive")
    listing = stage.run(run.runtime, "dlq", "list")
    mine, theirs = run.stores()
    report = drift(run.env)
    facts.update(
        planned=plan.body.get("selected"),
        redrive_exit=fixed.code,
        redrive_outcomes=fixed.body.get("outcomes"),
        redriven=(fixed.body.get("outcomes") or {}).get("applied", 0),
        moved=fixed.body.get("moved"),
        archived=sum(1 for _ in run.env.objects.list("redriven/")),
        left_after_redrive=listing.body.get("total"),
        list_exit=listing.code,
        after_vs_twin=mine.differences(theirs, FAULTED),
        drift_after=drifted(report),
    )
    lost = losses(run.traffic.ledger, run.env)
    return DrillResult("poison", run.traffic.ledger.events, lost.count, report.drift, time.monotonic() - started, facts)


def caught(run: FaultyRun) -> dict[str, object]:
    """What the faulty release set aside, and whether everything else was applied."""
    poison = run.traffic.ledger.poison()
    letters = {c: dead_letters(run.env, c) for c in (*FAULTED, "counters")}
    captured = {
        c: {(e.tenant_id, e.entity, e.key, e.version) for e in letter_envelopes(found)} for c, found in letters.items()
    }
    cache_keys, search_keys = run.poison_keys()
    mine, theirs = run.stores()
    before = drift(run.env)
    return {
        "poison_records": len(poison),
        "dlq_expected": len(poison) * len(FAULTED),
        "dlq_captured": sum(len(captured[c] & poison) for c in FAULTED),
        "letters": {c: len(found) for c, found in letters.items()},
        "letters_match": all(captured[c] == poison for c in FAULTED) and not letters["counters"],
        "poison_counted": {c: run.stats.totals[c].poison for c in FAULTED},
        "drift_before": drifted(before),
        "expected_drift": {
            "cache": {("missing", t, e, k) for t, e, k, _ in poison},
            "search": {("missing", t, e, k) for t, e, k, _ in poison},
        },
        "good_vs_twin": mine.without(cache_keys, search_keys).differences(theirs.without(cache_keys, search_keys)),
        "poison_in_store": sorted(set(mine.cache) & cache_keys) + sorted(map(str, set(mine.search) & search_keys)),
    }
