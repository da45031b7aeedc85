"""Drill 1: the consumers killed with SIGKILL at random moments of a live run, restarted each time.

The router runs in the drill's own process (it is another Lambda on AWS); the four
consumers of the events stream (cache, search, counters, archiver) run in a process of
their own (:mod:`bench.drill_runner`), killed once it is up and a random while later,
but only while it still has records to read, then started again at once. Each kill is
proven to have landed mid-way from the checkpoints the consumers persist: the process
was alive, it held every lease (it had taken them over from its dead predecessor), its
checkpoints were past where its predecessor died, and records were left behind it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from auxeira.operations.status_shards import probe_shard
from auxeira.runtime.checkpoints import Checkpoint
from auxeira.runtime.local_pipeline import LocalPipeline
from auxeira.runtime.shard_sources import KinesisSource
from bench.drill_checks import archived, drift, losses
from bench.drill_live import DrillResult, repositories
from bench.drill_scale import TENANTS, Scale
from bench.drill_stage import Proc, Stage, environment_of
from bench.drill_workload import Ledger, plan_ops, primer, write

__all__ = ["CONSUMERS", "Kill", "kill_drill", "positions", "stream_sequences"]

CONSUMERS = ("cache", "search", "counters", "archiver")


def positions(runtime: LocalRuntime, consumers: tuple[str, ...] = CONSUMERS) -> dict[tuple[str, str], Checkpoint]:
    """Every persisted checkpoint of ``consumers``, by (consumer, shard)."""
    cps = runtime.checkpoints
    return {(c, shard): cp for c in consumers for shard, cp in cps.all(c).items()}


def stream_sequences(runtime: LocalRuntime) -> dict[str, list[int]]:
    """Every record's sequence number on the events stream, per shard, in order."""
    source = KinesisSource(runtime.kinesis, runtime.stream_name, runtime.endpoints.region)
    out: dict[str, list[int]] = {}
    for shard in source.shards():
        iterator: str | None = source.iterator(shard.shard_id, None)
        seen = out.setdefault(shard.shard_id, [])
        while iterator is not None:
            page = source.read(shard.shard_id, iterator, 10_000)
            seen += [int(r["kinesis"]["sequenceNumber"]) for r in page.records]
            iterator = page.next_iterator
            if not page.records and not page.millis_behind:
                break
    return out


def consumed(at: dict[tuple[str, str], Checkpoint], sequences: dict[str, list[int]]) -> dict[str, int]:
    """Records at or before each consumer's checkpoints (what it had durably done)."""
    done: Counter[str] = Counter(dict.fromkeys(CONSUMERS, 0))
    for (consumer, shard), cp in at.items():
        if cp.sequence_number:
            done[consumer] += sum(1 for s in sequences.get(shard, ()) if s <= int(cp.sequence_number))
    return dict(done)


@dataclass
class Kill:
    """One SIGKILL: the process, how long it had run, and what the checkpoints said at that moment."""

    pid: int
    lived_seconds: float
    exit_status: int
    owners: list[int]
    at: dict[tuple[str, str], Checkpoint]
    consumed: dict[str, int] | None = None


def kill_drill(stage: Stage, scale: Scale) -> DrillResult:
    """GIVEN ``scale.kill_events`` events written and routed live
    WHEN the consumers' process is killed with SIGKILL ``scale.kills`` times at random moments,
         each time while it still has records to read, and started again at once
    THEN every kill landed mid-way and every successor resumed from the persisted checkpoints
         (see the module docstring); a last run, never killed, read only what was left
    AND nothing was lost, no event was archived twice, and verify finds no drift.
    """
    started = time.monotonic()
    rt = stage.runtime(scale.shards)
    rng = random.Random(1)
    router = LocalPipeline([m for m in build_pipeline(rt).mappings if m.consumer.startswith("router:")])
    ledger = Ledger()
    first, rest = primer(plan_ops(scale.kill_events, seed=1, tenants=TENANTS))
    write(repositories(rt), first, threads=1, ledger=ledger)
    writer = threading.Thread(
        target=write, args=(repositories(rt), rest), kwargs={"ledger": ledger, "rate": scale.kill_rate}, daemon=True
    )
    writer.start()
    kills: list[Kill] = []
    try:
        while len(kills) < scale.kills:
            kill = _one_life(stage, rt, router, rng, scale)
            if kill is None:
                break  # caught up before the moment came: the run is over
            kills.append(kill)
        writer.join()
        router.run_until_caught_up(timeout=1800)
    finally:
        router.release()
    last = stage.spawn(rt, ["-m", "bench.drill_runner", "--until-idle"]).finish(timeout=3600)
    sequences = stream_sequences(rt)
    for kill in kills:
        kill.consumed = consumed(kill.at, sequences)
    env = environment_of(rt)
    report = drift(env)
    lake = [e.event_id for e in archived(env.objects)]
    facts: dict[str, Any] = {
        "kills": [{k: v for k, v in asdict(kill).items() if k != "at"} for kill in kills],
        "stream_records": sum(map(len, sequences.values())),
        "last_run_exit": last.code,
        "last_run": {c: s.get("records") for c, s in last.body.get("stopped", {}).items()},
        "archived": len(lake),
        "archived_twice": len(lake) - len(set(lake)),
        "failed_writes": len(ledger.failed),
    }
    lost = losses(ledger, env)
    return DrillResult("kill", ledger.events, lost.count, report.drift, time.monotonic() - started, facts)


def _one_life(stage: Stage, rt: LocalRuntime, router: LocalPipeline, rng: random.Random, scale: Scale) -> Kill | None:
    """Start the consumers, route while they run, and kill them at a random moment with work pending."""
    proc = stage.spawn(rt, ["-m", "bench.drill_runner"])
    began = time.monotonic()
    _route_until(router, proc, lambda: bool(proc.lines), 120)
    moment = time.monotonic() + rng.uniform(0.2, scale.kill_window)
    _route_until(router, proc, lambda: time.monotonic() >= moment, 3600)
    if not _route_until(router, proc, lambda: _pending(rt), 60, give_up=True):
        proc.kill()
        return None
    at = positions(rt)
    owners = sorted({int(cp.owner.split(":")[1]) for cp in at.values() if cp.owner})
    alive = proc.alive()
    status = proc.kill()
    if not alive:
        raise RuntimeError(f"the consumers' process exited by itself: {proc.stderr()[-2000:]}")
    return Kill(proc.pid, round(time.monotonic() - began, 2), status, owners, at)


def _route_until(router: LocalPipeline, proc: Proc, ready: Any, timeout: float, give_up: bool = False) -> bool:
    """Poll the router until ``ready()``; False when ``give_up`` and it did not come in time."""
    deadline = time.monotonic() + timeout
    while not ready():
        if not proc.alive():
            raise RuntimeError(f"the consumers' process died: {proc.stderr()[-2000:]}")
        if time.monotonic() > deadline:
            if give_up:
                return False
            raise TimeoutError(f"consumers' process {proc.pid}: not ready in {timeout:g} s")
        if router.poll().idle:
            time.sleep(0.05)
    return True


def _pending(rt: LocalRuntime) -> bool:
    """Whether some consumer shard has records after its checkpoint (the kill leaves work undone)."""
    source = KinesisSource(rt.kinesis, rt.stream_name, rt.endpoints.region)
    at = positions(rt)
    for consumer in CONSUMERS:
        for shard in source.shards():
            if probe_shard(source, shard.shard_id, (), at.get((consumer, shard.shard_id)), cap=1).records_behind:
                return True
    return False
