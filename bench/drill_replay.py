"""Drill 4: wipe every projection and replay the whole history into it, from Kinesis and again from the lake.

"Identical" is entry by entry (:mod:`bench.drill_snapshots`): the same keys, states,
tombstones and stored orders in the cache and the search index, and the same counts,
sums, histograms and per-shard watermarks in the counters, as the live consumers left
them. Both replays run the operations library ``auxeira replay`` runs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from auxeira.operations.local_stack_pipeline import LocalRuntime
from auxeira.operations.replay import ReplayRequest, replay
from auxeira.operations.replay_window import Window
from auxeira.operations.status_epochs import store_statuses
from bench.drill_checks import drift, losses
from bench.drill_live import DrillResult, live
from bench.drill_scale import TENANTS, Scale
from bench.drill_snapshots import STORES, Snapshot, snapshot, wipe
from bench.drill_stage import Stage, environment_of
from bench.drill_workload import plan_ops

__all__ = ["replay_drill", "stores_of", "wipe_stores"]


def stores_of(runtime: LocalRuntime, stores: tuple[str, ...] = STORES) -> Snapshot:
    """The environment's own projection stores, entry by entry."""
    rt = runtime
    return snapshot(rt.endpoints.redis(), rt.env, rt.search_path or "", rt.dynamodb, rt.env, stores)


def wipe_stores(runtime: LocalRuntime, stores: tuple[str, ...] = STORES) -> None:
    """The environment's projection stores lose everything (only the checkpoints remember them)."""
    rt = runtime
    wipe(rt.endpoints.redis(), rt.env, rt.search_path or "", rt.dynamodb, rt.env, stores)


def replay_drill(stage: Stage, scale: Scale) -> DrillResult:
    """GIVEN a history consumed live (creates, updates, soft and hard deletes, counted activities)
    WHEN every projection is wiped and the stream's whole history replayed from Kinesis
    THEN each store equals the live one entry by entry, and is marked built again
    WHEN they are wiped again and the history replayed from the lake's raw archive
    THEN they equal the live ones again; verify finds no drift.
    """
    started = time.monotonic()
    since = datetime.now(UTC) - timedelta(minutes=10)  # before the stream existed: its whole history
    rt = stage.runtime(scale.shards)
    traffic = live(rt, plan_ops(scale.events, seed=4, tenants=TENANTS))
    before = stores_of(rt)
    facts: dict[str, Any] = {"sizes": before.sizes}
    for source in ("kinesis", "lake"):
        wipe_stores(rt)
        env = environment_of(rt)  # fresh sinks: the search index file was removed
        result = replay(env, ReplayRequest(STORES, Window(since), source=source))
        facts[source] = {
            p.projection: {"read": p.read, "applied": p.applied, "stale": p.stale} for p in result.projections
        }
        facts[f"{source}_dead_lettered"] = sum(p.dead_lettered for p in result.projections)
        facts[f"{source}_marked_built"] = [p.projection for p in result.projections if p.marked_built]
        facts[f"{source}_differences"] = stores_of(rt).differences(before)
        facts[f"{source}_store_states"] = {s.check.store: s.check.state.value for s in store_statuses(env)}
    facts["identical"] = not facts["kinesis_differences"] and not facts["lake_differences"]
    env = environment_of(rt)
    report = drift(env)
    lost = losses(traffic.ledger, env)
    return DrillResult("replay", traffic.ledger.events, lost.count, report.drift, time.monotonic() - started, facts)
