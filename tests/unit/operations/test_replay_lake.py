"""``replay --source lake``: the archiver's raw archive read back as the stream delivered it (same
shards, sequence numbers and arrival times), so a replay from the lake equals one from Kinesis
and never double counts; KPL aggregated records come back whole."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from moto import mock_aws

from auxeira.operations.emit import emit
from auxeira.operations.environment import Environment
from auxeira.operations.replay import ReplayRequest, projections_of, replay
from auxeira.operations.replay_plan import plan
from auxeira.operations.replay_window import Window
from auxeira.runtime import shard_sources
from auxeira.runtime.clients import ClientFactory
from auxeira.runtime.shard_sources import KinesisSource
from consumers.handlers import archiver
from consumers.sinks.archive import ArchiveSink
from consumers.sinks.counters_memory import InMemoryCounterSink
from consumers.sinks.memory import InMemoryCacheSink
from infra.tables import create_table_request
from producers.aggregation import Aggregator
from producers.kinesis_writer import OutgoingRecord
from schemas.envelope import Envelope, Source, encode, partition_key
from schemas.resources import CHECKPOINTS_TABLE
from tests.counter_delivery import counters_of


def activity(n: int) -> Envelope:
    return Envelope(
        event_id=f"activity-{n}",
        event_type="activity.created",
        tenant_id="t1",
        entity="activity",
        key=f"STARTUP#s{n % 3}|ACTIVITY#{n}",
        version=1,
        source=Source(table="auxeira-activities-t"),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        before=None,
        after={"tenant_id": "t1", "startup_id": f"s{n % 3}", "activity_id": f"a{n}", "aux_tokens_earned": n},
    )


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Environment]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setattr(shard_sources, "END_SETTLE_SECONDS", 0.0)
    with mock_aws():
        env = Environment(name="t", clients=ClientFactory(region="us-east-1"), lake_root=str(tmp_path / "lake"))
        env.dynamodb.create_table(**create_table_request(CHECKPOINTS_TABLE, "t"))
        env.kinesis.create_stream(StreamName=env.stream_name, ShardCount=2)
        env._sinks.update(cache=InMemoryCacheSink(namespace="t"), counters=InMemoryCounterSink())
        yield env


def archive(env: Environment, batch: int = 5) -> int:
    """Run the archiver over the whole stream, in batches of ``batch`` (objects cut at batch bounds)."""
    handle = archiver.build_handler(ArchiveSink(env.objects), env.dead_letters())
    source, archived = KinesisSource(env.kinesis, env.stream_name), 0
    for shard in source.shards():
        records = source.read(shard.shard_id, source.iterator(shard.shard_id, None), 1000).records
        for i in range(0, len(records), batch):
            assert handle({"Records": records[i : i + batch]}, None) == {"batchItemFailures": []}
        archived += len(records)
    return archived


def window_around(put: Any) -> Window:
    start = datetime.now(UTC)
    time.sleep(0.01)
    put()
    time.sleep(0.01)
    return Window(start, datetime.now(UTC))


def request(projections: str, window: Window, source: str) -> ReplayRequest:
    return ReplayRequest(projections_of(projections), window, source=source)


def test_the_lake_replays_the_same_records_as_kinesis_and_counters_are_not_counted_twice(env):
    # GIVEN 12 activities on the stream, counted live, and archived by the archiver
    window = window_around(lambda: emit(env, [activity(n) for n in range(12)]))
    replay(env, request("counters,cache", window, "kinesis"))
    live = counters_of(env._sinks["counters"])
    cache = {k: env._sinks["cache"].get(k).state for k in env._sinks["cache"].scan_keys("t1")}
    assert archive(env) == 12
    # WHEN the lake's copy of the window is replayed into the live counters
    summary = replay(env, request("counters", window, "lake")).projections[0]
    # THEN the watermarks recognise every record: the archive kept the shards and sequence numbers
    assert (summary.read, summary.applied, summary.stale) == (12, 0, 12)
    assert counters_of(env._sinks["counters"]) == live
    # AND into wiped stores, the lake rebuilds exactly what Kinesis built
    env._sinks.update(cache=InMemoryCacheSink(namespace="t"), counters=InMemoryCounterSink())
    result = replay(env, request("counters,cache", window, "lake"))
    assert result.source == "lake" and not result.problem
    assert counters_of(env._sinks["counters"]) == live
    assert {k: env._sinks["cache"].get(k).state for k in env._sinks["cache"].scan_keys("t1")} == cache


def test_kpl_aggregated_records_come_back_whole_and_count_each_user_record_once(env):
    # GIVEN activities put as KPL aggregated records (several events in one Kinesis record)
    outgoing = [OutgoingRecord(encode(activity(n)), partition_key(activity(n))) for n in range(9)]
    packed = Aggregator(buckets=2).aggregate(outgoing)
    assert len(packed) < 9

    def put() -> None:
        for record in packed:
            env.kinesis.put_record(StreamName=env.stream_name, Data=record.data, PartitionKey=record.partition_key)

    window = window_around(put)
    replay(env, request("counters", window, "kinesis"))
    live = counters_of(env._sinks["counters"])
    assert live[("t1", "STARTUP#s0")]["activities_count"] == 3
    archive(env, batch=1)
    # WHEN the lake's copy is replayed into wiped counters, then once more
    env._sinks["counters"] = InMemoryCounterSink()
    first = replay(env, request("counters", window, "lake")).projections[0]
    second = replay(env, request("counters", window, "lake")).projections[0]
    # THEN each Kinesis record is one record again, counted once
    assert first.read == len(packed) and second.applied == 0
    assert counters_of(env._sinks["counters"]) == live


def test_only_archived_records_that_arrived_inside_the_window_are_read(env):
    emit(env, [activity(n) for n in range(4)])
    window = window_around(lambda: emit(env, [activity(n) for n in range(4, 10)]))
    emit(env, [activity(n) for n in range(10, 13)])
    archive(env, batch=100)
    summary = replay(env, request("cache", window, "lake")).projections[0]
    assert summary.read == 6


def test_the_dry_run_lists_the_archive_objects_it_would_read(env):
    window = window_around(lambda: emit(env, [activity(n) for n in range(6)]))
    archive(env, batch=2)
    found = plan(env, request("counters", window, "lake"))
    assert found.source == "lake" and found.records == 6
    assert found.objects and all(key.startswith("raw/events/dt=") for key in found.objects)
    assert found.projections[0].event_types == {"activity.created": 6}
    assert all(s.start.startswith("archive from ") for s in found.shards)
