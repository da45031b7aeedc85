"""``dlq redrive`` on the local stack: a real pipeline run whose cache and counters sinks were
broken dead-letters what they refused; after the fix later writes flow (and move the counters'
shard watermarks past the letters); the redrive, through the environment's own handlers,
applies every letter, and the cache and the counters equal the tables."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from auxeira.operations.dlq import Dlq
from auxeira.operations.environment import Environment
from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from auxeira.runtime import failure_records
from auxeira.runtime.failure_records import FailureRecords
from auxeira.runtime.shard_sources import KinesisSource
from consumers.sinks.counters_dynamo import DynamoCounterSink
from consumers.sinks.redis_cache import RedisCacheSink
from consumers.verify import compare_cache, expected_states, scan_items
from consumers.verify_counters import compare_counters
from producers.repository import Repository
from schemas import catalog
from schemas.errors import PoisonRecordError
from schemas.resources import COUNTERS_TABLE
from tests.factories import make_item

pytestmark = pytest.mark.integration


class BrokenCache(RedisCacheSink):
    """The real cache sink with a bug that refuses every mutation until it is fixed."""

    fixed = False

    def apply(self, mutations):
        if not self.fixed:
            return [PoisonRecordError("cache bug #7: refused") for _ in mutations]
        return super().apply(mutations)


class BrokenCounters(DynamoCounterSink):
    """The real counters sink with a bug that refuses every update until it is fixed."""

    fixed = False

    def write(self, updates):
        if not self.fixed:
            return [PoisonRecordError("counters bug #8: refused") for _ in updates]
        return super().write(updates)


def write(repo: Repository, tenant: str, first: int, last: int) -> None:
    """Activities ``first..last`` of three startups (created on the first call)."""
    if first == 0:
        for s in range(3):
            repo.create("startup", make_item("startup", s, tenant), actor="it")
    for n in range(first, last):
        repo.create("activity", make_item("activity", n, tenant, startup_id=f"s{n % 3}"), actor="it")


def drift(runtime: LocalRuntime, tenant: str) -> list:
    cache = runtime.cache_sink()
    counters = runtime.counter_sink()
    expected = [
        e
        for spec in (catalog.table_of_entity("startup"), catalog.table_of_entity("activity"))
        for e in expected_states(spec, scan_items(runtime.dynamodb, spec.physical_name(runtime.env)), {tenant})
    ]
    return compare_cache(expected, cache, [tenant]) + compare_counters(expected, counters, [tenant])


def test_a_real_run_dead_letters_what_broken_sinks_refused_and_the_redrive_applies_it_once_fixed(make_runtime):
    runtime = make_runtime()
    tenant = f"dlq-{uuid.uuid4().hex[:6]}"
    repo = Repository(runtime.dynamodb, env=runtime.env)
    cache = BrokenCache(url=runtime.endpoints.redis_url, namespace=runtime.env)
    counters = BrokenCounters(runtime.dynamodb, COUNTERS_TABLE.physical_name(runtime.env))
    # GIVEN a run while the cache and counters sinks refuse everything
    write(repo, tenant, 0, 6)
    pipeline = build_pipeline(runtime, cache_sink=cache, counter_sink=counters)
    pipeline.run_until_caught_up()
    env = Environment(
        name=runtime.env,
        clients=runtime.endpoints.client_factory(),
        lake_root=runtime.lake_root,
        redis_url=runtime.endpoints.redis_url,
    )
    dlq = Dlq.of(env)
    groups = {(g.consumer, g.error_type): g.dead_letters for g in dlq.listing().groups}
    assert set(groups) == {("cache", "PoisonRecordError"), ("counters", "PoisonRecordError")}
    assert groups["cache", "PoisonRecordError"] == 9 and groups["counters", "PoisonRecordError"] >= 6
    letters = sum(groups.values())
    # AND after the fix, later writes flow (the counters' watermarks pass the letters)
    cache.fixed = counters.fixed = True
    write(repo, tenant, 6, 9)
    pipeline.run_until_caught_up()
    pipeline.release()
    assert drift(runtime, tenant) != []
    # AND a failure record without payload for the last three events (read back from kinesis-mock)
    source = KinesisSource(runtime.kinesis, runtime.stream_name, runtime.endpoints.region)
    shard = max(
        source.shards(), key=lambda s: len(source.read(s.shard_id, source.iterator(s.shard_id, None), 1000).records)
    )
    tail = source.read(shard.shard_id, source.iterator(shard.shard_id, None), 1000).records[-3:]
    document = failure_records.build(
        tail,
        consumer="cache",
        condition="RetryAttemptsExhausted",
        invoke_count=3,
        function_error="Unhandled",
        at=datetime.now(UTC),
        shard_id=shard.shard_id,
    )
    del document["payload"]
    FailureRecords(env.objects).put(document, consumer="cache")
    # WHEN the redrive runs through the environment's own handlers
    summary = dlq.redrive(dlq.plan())
    # THEN nothing is left to look at, and the cache and the counters equal the tables
    assert summary.problems == [], [r.as_dict() for r in summary.problems]
    assert summary.counts["applied"] >= 6 and sum(1 for r in summary.results if r.moved_to) == letters + 1
    assert dlq.listing().empty
    found = drift(runtime, tenant)
    assert found == [], [(m.key, m.reason) for m in found]
    archived = [orjson.loads(env.objects.get(k)) for k in env.objects.list("redriven/")]
    assert len(archived) == letters + 1 and {a["outcome"] for a in archived} <= {"applied", "stale"}
    [from_stream] = [a for a in archived if a["kind"] == "failure_record"]
    assert from_stream["counts"]["records"] == 3
    # AND running it again finds nothing and changes nothing
    assert dlq.plan() == []
