"""Drill 5: a stream checkpoint falls past retention, ``status`` warns, a backfill rebuilds.

kinesis-mock cannot keep records less than AWS's 24 hours and never trims, so the drill
simulates both halves of "past retention": ``status`` is asked with a clock 25 hours on
(:func:`auxeira.operations.status.collect_status` takes one), and the consumers that fell
behind then read the stream through :class:`bench.drill_faults.TrimmedSource`, which no
longer holds what arrived while they were stopped. The cache and search consumers are
the ones stopped (their stores are what a snapshot rebuilds; the counters never count a
snapshot, so they keep up here).

The rebuild is the runbook's: ``auxeira backfill --table all`` (what ``status`` points
to), then ``auxeira verify --projection all --repair`` for what a Scan cannot bring back:
an item hard-deleted while the stream was out of reach is not in any table, so no
snapshot removes its entry (the repair emits its delete).
"""

from __future__ import annotations

import time
from typing import Any

from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from auxeira.operations.status import collect_status
from auxeira.runtime.local_pipeline import LocalPipeline
from bench.drill_checks import drift, drifted, losses
from bench.drill_faults import TrimmedSource
from bench.drill_live import DrillResult, live
from bench.drill_scale import TENANTS, Scale
from bench.drill_stage import Stage, catch_up, environment_of
from bench.drill_workload import Ledger, plan_ops

__all__ = ["BEHIND", "retention_drill"]

#: The consumers that fall behind, past the stream's retention.
BEHIND = ("cache", "search")
HOUR = 3600.0


def retention_drill(stage: Stage, scale: Scale) -> DrillResult:
    """GIVEN live traffic consumed by every consumer (part A of the workload)
    WHEN the cache and search consumers stop while part B is written and routed
    THEN ``status`` 25 hours later warns that their unprocessed records are past the
         stream's retention and points at backfill; it warns of no other consumer
    WHEN they come back to a stream that no longer holds part B, while part C flows
    THEN they read none of part B, and verify finds drift in exactly the stores that missed it
    WHEN ``auxeira backfill --table all`` runs (then ``verify --repair`` for deletes no Scan sees)
    THEN nothing was lost, the stores are ``ok``, and verify finds no drift.
    """
    started = time.monotonic()
    rt = stage.runtime(scale.shards)
    ops = plan_ops(scale.events, seed=5, tenants=TENANTS)
    cut_a, cut_b = len(ops) * 2 // 5, len(ops) * 7 // 10
    ledger = Ledger()
    ledger.extend(live(rt, ops[:cut_a]).ledger)
    behind_ops = ops[cut_a:cut_b]
    ledger.extend(live(rt, behind_ops, pipeline=_without(rt, BEHIND)).ledger)
    env = environment_of(rt)
    now = time.time()
    horizon = now + 0.5  # everything on the stream so far "left" it
    late = collect_status(env, clock=lambda: now + 25 * HOUR)
    warned = {c.consumer: c.warnings for c in late.consumers}
    facts: dict[str, Any] = {
        "behind_writes": len(behind_ops),
        "behind_records": {c.consumer: c.records_behind for c in late.consumers if c.consumer in BEHIND},
        "past_retention_warned": sorted(
            c
            for c, ws in warned.items()
            if any("past the stream's retention" in w and "auxeira backfill" in w for w in ws)
        ),
        "others_warned": sorted(c for c, ws in warned.items() if ws and c not in BEHIND),
        "late_status_problem": late.problem,
    }
    time.sleep(max(0.0, horizon - time.time()))
    pipeline = build_pipeline(rt)
    trimmed = [TrimmedSource(m.source, horizon) for m in pipeline.mappings if m.consumer in BEHIND]
    for m in pipeline.mappings:
        if m.consumer in BEHIND:
            m.source = next(t for t in trimmed if t.source is m.source)  # type: ignore[assignment]
    ledger.extend(live(rt, ops[cut_b:], pipeline=pipeline).ledger)
    found = drifted(drift(env))
    facts.update(
        hidden=sum(t.hidden for t in trimmed),
        drift_before=sorted(found),
        drift_before_count=sum(map(len, found.values())),
    )
    rebuilt = stage.run(rt, "backfill", "--table", "all", "--segments", "2")
    catch_up(rt)
    after_backfill = drifted(drift(env))
    facts.update(
        backfill_exit=rebuilt.code,
        backfill_emitted=sum(t.get("emitted", 0) for t in rebuilt.body.get("tables", [])),
        after_backfill={p: sorted({str(kind) for kind, *_ in d}) for p, d in after_backfill.items()},
        after_backfill_count=sum(map(len, after_backfill.values())),
    )
    if after_backfill:
        facts["repair_exit"] = _repair(stage, rt)
    report = drift(env)
    facts["drift_after"] = drifted(report)
    facts["states_after"] = {s.check.store: s.check.state.value for s in collect_status(env).stores}
    lost = losses(ledger, env)
    facts["lost_detail"] = {"not_archived": len(lost.not_archived), "not_cached": len(lost.not_cached)}
    return DrillResult("retention", ledger.events, lost.count, report.drift, time.monotonic() - started, facts)


def _without(runtime: LocalRuntime, consumers: tuple[str, ...]) -> LocalPipeline:
    """The whole pipeline less ``consumers`` (stopped: their checkpoints stay where they are)."""
    pipeline = build_pipeline(runtime)
    return LocalPipeline([m for m in pipeline.mappings if m.consumer not in consumers])


def _repair(stage: Stage, runtime: LocalRuntime) -> int:
    """``auxeira verify --projection all --repair`` while the consumers run in a process of their own."""
    runner = stage.spawn(runtime, ["-m", "bench.drill_runner"])
    try:
        runner.line("ready", timeout=120)
        return stage.run(runtime, "verify", "--projection", "all", "--repair").code
    finally:
        runner.kill()
        catch_up(runtime)
