"""End to end on the local stack: repository -> DynamoDB Streams -> router -> Kinesis -> Redis."""

from __future__ import annotations

import random
import time
import uuid

import pytest

from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from auxeira.runtime.checkpoints import Checkpoints
from auxeira.runtime.sinks import APPLIED, STALE
from consumers.sinks.redis_cache import RedisCacheSink
from consumers.verify import compare_cache, expected_states, scan_items
from producers.repository import Repository

pytestmark = pytest.mark.integration

INDUSTRIES = ("EdTech", "FinTech", "HealthTech")


def _tenants() -> list[str]:
    run = uuid.uuid4().hex[:6]
    return [f"tenant-{n}-{run}" for n in "abc"]


def _startup(tenant: str, n: int) -> dict:
    return {
        "tenant_id": tenant,
        "startup_id": f"{tenant}-s{n}",
        "company_name": f"Startup {n}",
        "industry": INDUSTRIES[n % 3],
        "stage": "Seed",
        "sse_score": 50,
        "company_details": {"tax_id": "SECRET-TAX"},
    }


def _write_history(repo: Repository, tenants: list[str], entities: int, writes: int, seed: int) -> list[dict]:
    """``entities`` startups spread over the tenants, then updates until ``writes`` writes in all."""
    rng = random.Random(seed)
    keys = []
    for n in range(entities):
        tenant = tenants[n % len(tenants)]
        repo.create("startup", _startup(tenant, n), actor="it")
        keys.append({"startup_id": f"{tenant}-s{n}"})
    for w in range(writes - entities):
        key = rng.choice(keys)
        repo.update("startup", key, {"sse_score": rng.randrange(101), "tagline": f"write {w}"}, actor="it")
    return keys


def _mismatches(runtime: LocalRuntime, sink: RedisCacheSink, tenants: list[str]) -> list:
    expected = [
        e
        for spec in runtime.tables
        for e in expected_states(spec, scan_items(runtime.dynamodb, spec.physical_name(runtime.env)), set(tenants))
    ]
    return compare_cache(expected, sink, tenants)


def _sink(runtime: LocalRuntime) -> RedisCacheSink:
    return runtime.cache_sink()


def test_thousand_writes_over_fifty_entities_converge(make_runtime):
    # GIVEN 1,000 writes over 50 startups in 3 tenants
    runtime = make_runtime()
    tenants = _tenants()
    _write_history(Repository(runtime.dynamodb, env=runtime.env), tenants, entities=50, writes=1000, seed=1)
    # WHEN the router and the cache consumer run until nothing moves
    sink = _sink(runtime)
    pipeline = build_pipeline(runtime, sink)
    pipeline.run_until_caught_up()
    # THEN every change was routed once and the cache equals the tables
    assert pipeline.moved("router:") == 1000
    assert _mismatches(runtime, sink, tenants) == []
    assert sum(1 for t in tenants for _ in sink.scan_keys(t)) == 50
    cached = sink.get(f"aux:{runtime.env}:{tenants[0]}:startup:STARTUP#{tenants[0]}-s0|PROFILE")
    assert "tax_id" not in cached.state["company_details"]


class CountingSink(RedisCacheSink):
    """The real sink, counting what it was asked to apply and what turned out a no-op."""

    seen = applied = noops = 0

    def apply(self, mutations):
        results = super().apply(mutations)
        self.seen += len(results)
        self.applied += results.count(APPLIED)
        self.noops += results.count(STALE)
        return results


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


class CrashingCheckpoints(Checkpoints):
    """Dies on the n-th checkpoint of one consumer, after that batch reached the sink."""

    def __init__(self, inner: Checkpoints, consumer: str, crash_on: int):
        super().__init__(inner.client, inner.table_name)
        self.consumer, self.crash_on, self.saves = consumer, crash_on, 0

    def save(self, consumer, shard_id, sequence_number, **kwargs):
        if consumer == self.consumer:
            self.saves += 1
            if self.saves == self.crash_on:
                raise Crash()
        super().save(consumer, shard_id, sequence_number, **kwargs)


def test_consumer_killed_between_sink_write_and_checkpoint_loses_nothing(make_runtime):
    # GIVEN a history of 300 writes
    runtime = make_runtime()
    tenants = _tenants()
    _write_history(Repository(runtime.dynamodb, env=runtime.env), tenants, entities=20, writes=300, seed=2)
    sink = CountingSink(url=runtime.endpoints.redis_url, namespace=runtime.env)
    # WHEN the cache consumer dies right after its second batch reached Redis, before checkpointing it
    crashing = CrashingCheckpoints(runtime.checkpoints, "cache", crash_on=2)
    first = build_pipeline(runtime, sink, checkpoints=crashing, lease_seconds=1.0)
    first.mappings[-1].batch_size = 50
    with pytest.raises(Crash):
        first.run_until_caught_up()
    assert sink.applied > 0
    # AND, once the dead process's shard leases have lapsed, a new one starts from the stored checkpoints
    time.sleep(1.1)
    restarted = build_pipeline(runtime, sink)
    restarted.run_until_caught_up()
    # THEN the uncheckpointed batch was delivered again (its mutations are now no-ops),
    # nothing was lost, and the cache still equals the tables
    assert sink.seen > 300
    assert sink.noops > 0
    assert _mismatches(runtime, sink, tenants) == []


def test_reshard_from_two_to_four_shards_mid_run(make_runtime):
    # GIVEN a two-shard stream and a pipeline that has consumed part of the history
    runtime = make_runtime(shard_count=2)
    tenants = _tenants()
    repo = Repository(runtime.dynamodb, env=runtime.env)
    keys = _write_history(repo, tenants, entities=30, writes=200, seed=3)
    sink = _sink(runtime)
    pipeline = build_pipeline(runtime, sink)
    pipeline.run_until_caught_up()
    # WHEN the stream is resharded to four shards and more writes arrive
    runtime.kinesis.update_shard_count(
        StreamName=runtime.stream_name, TargetShardCount=4, ScalingType="UNIFORM_SCALING"
    )
    _wait_active(runtime)
    rng = random.Random(4)
    for w in range(200):
        repo.update("startup", rng.choice(keys), {"sse_score": rng.randrange(101), "tagline": f"after {w}"}, actor="it")
    pipeline.run_until_caught_up()
    # THEN the consumer finished the parents, followed the children, and the cache converged
    checkpoints = runtime.checkpoints.all("cache")
    shards = runtime.kinesis.list_shards(StreamName=runtime.stream_name)["Shards"]
    children = [s for s in shards if s.get("ParentShardId")]
    parents = {s["ParentShardId"] for s in children} | {s.get("AdjacentParentShardId") for s in children} - {None}
    assert len(children) >= 4
    assert all(checkpoints[p].finished for p in parents)
    assert any(checkpoints.get(c["ShardId"]) and checkpoints[c["ShardId"]].sequence_number for c in children)
    assert _mismatches(runtime, sink, tenants) == []


def _wait_active(runtime: LocalRuntime, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary = runtime.kinesis.describe_stream_summary(StreamName=runtime.stream_name)
        if summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.2)
    raise TimeoutError("stream not ACTIVE after resharding")
