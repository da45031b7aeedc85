"""``dlq redrive`` on both stores (a directory and moto S3): a sink that refused records is
fixed, the redrive applies them and moves each letter with its outcome; still poison stays;
a dry run changes nothing; a redrive killed mid-way and run again ends in the same state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from auxeira.operations.dlq import Dlq, Selection
from auxeira.operations.dlq_items import Stores
from auxeira.operations.dlq_streams import RangeReader
from auxeira.runtime.dead_letters import DeadLetter, DeadLetterStore
from auxeira.runtime.objects import LocalObjects, ObjectStore, S3Objects
from consumers.handlers import cache, counters
from consumers.projections.cache import cache_key
from consumers.sinks.counters_memory import InMemoryCounterSink
from consumers.sinks.memory import InMemoryCacheSink
from schemas.envelope import Envelope, Source, version_of_order
from schemas.errors import PoisonRecordError
from tests.kinesis_records import envelope, kinesis_event, kinesis_record

SHARD = "shardId-000000000001"


class Killed(BaseException):
    """The process dying: not an Exception, so nothing on the way catches it."""


class RefusingCache(InMemoryCacheSink):
    """A cache sink with a bug: it refuses every mutation (poison) until ``fixed``."""

    def __init__(self) -> None:
        super().__init__(namespace="test")
        self.fixed = False

    def apply(self, mutations):
        if not self.fixed:
            return [PoisonRecordError("cache sink bug #42: refused") for _ in mutations]
        return super().apply(mutations)


class RefusingCounters(InMemoryCounterSink):
    """A counters sink refusing the updates holding the sequence numbers in ``refused``."""

    def __init__(self, refused: set[str]) -> None:
        super().__init__()
        self.refused = refused

    def write(self, updates):
        bad = [any(p.sequence.lstrip("0") in self.refused for p in u.parts) for u in updates]
        written = iter(super().write([u for u, b in zip(updates, bad) if not b]))
        return [PoisonRecordError("counters sink bug: refused") if b else next(written) for b in bad]


@pytest.fixture(params=["local", "s3"])
def lake(request, tmp_path, monkeypatch) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield LocalObjects(tmp_path / "lake")
        return
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="lake")
        yield S3Objects(client, "lake", "prod")


def startups(n: int) -> list[dict[str, Any]]:
    return [
        kinesis_record(envelope(f"STARTUP#s{i}|PROFILE", version=1), shard=SHARD, sequence=str(100 + i))
        for i in range(n)
    ]


def cache_dlq(lake: ObjectStore, sink: RefusingCache, kill_after: int | None = None) -> Dlq:
    """The redrive with the cache handler as deployed, over ``sink``; optionally dying at a call."""
    calls = [0]

    def handlers(consumer: str, observer: Any):
        handler = cache.build_handler(sink, DeadLetterStore(lake), observer=observer)

        def handle(event, context):
            calls[0] += 1
            if kill_after is not None and calls[0] > kill_after:
                raise Killed()
            return handler(event, context)

        return handle

    return Dlq(Stores(lake), handlers, RangeReader(SimpleNamespace(kinesis=None, streams=None)))


def dead_letter_with_broken_sink(lake: ObjectStore, records: list[dict[str, Any]]) -> RefusingCache:
    """A live batch through the broken sink: every record is dead-lettered by the handler itself."""
    sink = RefusingCache()
    assert cache.build_handler(sink, DeadLetterStore(lake))(kinesis_event(*records), None) == {"batchItemFailures": []}
    return sink


def keys(lake: ObjectStore, prefix: str) -> list[str]:
    return sorted(lake.list(prefix))


def snapshot(lake: ObjectStore) -> dict[str, bytes]:
    return {k: lake.get(k) for k in lake.list("")}


def cached(sink: InMemoryCacheSink) -> dict[str, int]:
    """Cache key -> the version of the item it holds."""
    return {k: version_of_order(sink.get(k).version) for k in sorted(sink.scan_keys("t1"))}


def test_poison_then_fix_then_redrive_applies_every_letter_and_moves_it_with_its_outcome(lake) -> None:
    # GIVEN three records the cache sink refused, dead-lettered by the live handler
    sink = dead_letter_with_broken_sink(lake, startups(3))
    letters = keys(lake, "dlq/")
    assert len(letters) == 3 and cached(sink) == {}
    # WHEN the sink is fixed and the letters are redriven
    sink.fixed = True
    dlq = cache_dlq(lake, sink)
    summary = dlq.redrive(dlq.plan())
    # THEN every record is in the cache, no letter is left, and each moved with its outcome
    assert summary.counts["applied"] == 3 and not summary.problems
    assert cached(sink) == {cache_key("test", "t1", "startup", f"STARTUP#s{i}|PROFILE"): 1 for i in range(3)}
    assert keys(lake, "dlq/") == []
    assert keys(lake, "redriven/") == [f"redriven/{k}" for k in letters]
    archived = orjson.loads(lake.get(f"redriven/{letters[0]}"))
    assert archived["outcome"] == "applied" and archived["redriven_at"] and archived["counts"]["applied"] == 1
    assert archived["original"]["error_type"] == "PoisonRecordError"  # the letter itself, kept whole
    assert [r.moved_to for r in summary.results] == [f"redriven/{k}" for k in letters]


def test_a_letter_still_poison_stays_where_it_is_with_its_new_cause_and_is_reported(lake) -> None:
    # GIVEN a letter dead-lettered on an earlier day (so the handler would write today's partition)
    record = startups(1)[0]
    old = DeadLetter(
        "cache", SHARD, "100", "PoisonRecordError", "first cause", record, source_arn=record["eventSourceARN"]
    )
    old = replace(old, at="2025-12-31T23:00:00+00:00")
    letter_id = DeadLetterStore(lake).put(old)
    sink = RefusingCache()  # WHEN redriven while the sink still refuses
    summary = cache_dlq(lake, sink).redrive(cache_dlq(lake, sink).plan())
    # THEN it is reported still poison, and it is the same one letter, with the new cause
    [result] = summary.results
    assert result.outcome == "still_poison" and result.dead_letters == [letter_id] and result.moved_to is None
    assert keys(lake, "dlq/") == [letter_id] and keys(lake, "redriven/") == []
    kept = DeadLetterStore(lake).get(letter_id)
    assert kept.message == "cache sink bug #42: refused" and kept.attempts == 2 and kept.at == old.at


def test_a_dry_run_prints_the_plan_and_changes_nothing(lake) -> None:
    # GIVEN two letters
    sink = dead_letter_with_broken_sink(lake, startups(2))
    sink.fixed = True
    before = snapshot(lake)
    # WHEN only planned
    plan = cache_dlq(lake, sink).plan(Selection(consumer="cache"))
    # THEN the plan names each letter, its handler, its position and where it would move; nothing changed
    rows = [s.as_dict() for s in plan]
    assert [(r["consumer"], r["via"], r["shard_id"], r["first_sequence"], r["records"]) for r in rows] == [
        ("cache", "cache handler", SHARD, "100", 1),
        ("cache", "cache handler", SHARD, "101", 1),
    ]
    assert [r["moves_to"] for r in rows] == [f"redriven/{k}" for k in keys(lake, "dlq/")]
    assert snapshot(lake) == before and cached(sink) == {}


def test_a_redrive_killed_mid_way_and_run_again_ends_as_an_uninterrupted_one(lake, tmp_path) -> None:
    # GIVEN the same five letters in two lakes (the second a directory beside the first)
    other = LocalObjects(tmp_path / "other")
    sinks = [dead_letter_with_broken_sink(store, startups(5)) for store in (lake, other)]
    for sink in sinks:
        sink.fixed = True
    # WHEN one redrive runs through, and the other dies at its third handler call and is run again
    cache_dlq(other, sinks[1]).redrive(cache_dlq(other, sinks[1]).plan())
    killed = cache_dlq(lake, sinks[0], kill_after=2)
    with pytest.raises(Killed):
        killed.redrive(killed.plan())
    assert len(keys(lake, "redriven/")) == 2  # what was done before the kill is moved
    again = cache_dlq(lake, sinks[0])
    summary = again.redrive(again.plan())
    # THEN the same cache, no letter left, the same archive
    assert summary.counts["applied"] == 3
    assert cached(sinks[0]) == cached(sinks[1])
    assert keys(lake, "dlq/") == [] == keys(other, "dlq/")
    assert keys(lake, "redriven/") == keys(other, "redriven/")


class DiesOnDelete:
    """A store whose process dies at the n-th delete: after the archived copy was written."""

    def __init__(self, inner: ObjectStore, die_at: int):
        self.inner, self.die_at, self.deletes = inner, die_at, 0
        self.root = inner.root

    def put(self, key, body, content_type="application/json"):
        self.inner.put(key, body, content_type)

    def get(self, key):
        return self.inner.get(key)

    def exists(self, key):
        return self.inner.exists(key)

    def list(self, prefix):
        return self.inner.list(prefix)

    def delete(self, key):
        self.deletes += 1
        if self.deletes == self.die_at:
            raise Killed()
        self.inner.delete(key)


def test_killed_between_the_archived_copy_and_the_delete_loses_nothing_and_reruns_harmlessly(lake) -> None:
    # GIVEN three letters, and a redrive that dies right after archiving the second one
    sink = dead_letter_with_broken_sink(lake, startups(3))
    sink.fixed = True
    dying = cache_dlq(DiesOnDelete(lake, die_at=2), sink)  # type: ignore[arg-type]
    with pytest.raises(Killed):
        dying.redrive(dying.plan())
    second = keys(lake, "dlq/")[0]
    assert lake.exists(f"redriven/{second}")  # both copies exist: nothing is lost
    # WHEN run again
    summary = cache_dlq(lake, sink).redrive(cache_dlq(lake, sink).plan())
    # THEN the letter is redriven again harmlessly (stale) and moved, keeping its first outcome
    assert [r.outcome for r in summary.results] == ["stale", "applied"]
    assert keys(lake, "dlq/") == [] and len(keys(lake, "redriven/")) == 3
    archived = orjson.loads(lake.get(f"redriven/{second}"))
    assert archived["outcome"] == "stale" and [p["outcome"] for p in archived["previous"]] == ["applied"]
    assert len(cached(sink)) == 3


def activity(n: int) -> Envelope:
    return Envelope(
        event_id=f"activity-{n}",
        event_type="activity.created",
        tenant_id="t1",
        entity="activity",
        key=f"activity#{n}",
        version=1,
        source=Source(table="auxeira-test"),
        occurred_at=envelope().occurred_at,
        before=None,
        after={"tenant_id": "t1", "startup_id": "s1", "aux_tokens_earned": 1},
    )


def counters_dlq(lake: ObjectStore, sink: InMemoryCounterSink, kill_after: int | None = None) -> Dlq:
    calls = [0]

    def handlers(consumer: str, observer: Any):
        handler = counters.build_handler(sink, DeadLetterStore(lake), observer=observer)

        def handle(event, context):
            result = handler(event, context)
            calls[0] += 1
            if kill_after is not None and calls[0] >= kill_after:
                raise Killed()  # dies after the sink wrote, before the letter moved
            return result

        return handle

    return Dlq(Stores(lake), handlers, RangeReader(SimpleNamespace(kinesis=None, streams=None)))


def test_counters_apply_a_redriven_record_once_though_later_records_passed_its_shard_watermark(lake) -> None:
    # GIVEN four activities of s1 on one shard; the sink refused the first, then applied the rest
    records = [kinesis_record(activity(n), shard=SHARD, sequence=str(101 + n)) for n in range(4)]
    sink = RefusingCounters(refused={"101"})
    handler = counters.build_handler(sink, DeadLetterStore(lake))
    handler(kinesis_event(records[0]), None)
    handler(kinesis_event(*records[1:]), None)
    assert sink.get("t1", "STARTUP#s1").values["activities_count"] == 3
    # WHEN fixed, and the redrive dies after applying, before moving the letter, then runs again
    sink.refused = set()
    dying = counters_dlq(lake, sink, kill_after=1)
    with pytest.raises(Killed):
        dying.redrive(dying.plan())
    summary = counters_dlq(lake, sink).redrive(counters_dlq(lake, sink).plan())
    # THEN the record counts once: not ignored behind the shard's watermark, not twice on the rerun
    assert sink.get("t1", "STARTUP#s1").values["activities_count"] == 4
    assert [r.outcome for r in summary.results] == ["stale"] and keys(lake, "dlq/") == []


def test_a_counters_letter_still_poison_stays_one_letter_under_its_own_position(lake) -> None:
    # GIVEN a counters letter, WHEN redriven while the sink still refuses it
    record = kinesis_record(activity(1), shard=SHARD, sequence="101")
    sink = RefusingCounters(refused={"101"})
    counters.build_handler(sink, DeadLetterStore(lake))(kinesis_event(record), None)
    [letter_id] = keys(lake, "dlq/")
    summary = counters_dlq(lake, sink).redrive(counters_dlq(lake, sink).plan())
    # THEN one letter, where it was, with its original record (its real shard), and reported
    assert [r.outcome for r in summary.results] == ["still_poison"]
    assert keys(lake, "dlq/") == [letter_id]
    kept = DeadLetterStore(lake).get(letter_id)
    assert kept.shard_id == SHARD and kept.record["eventID"] == f"{SHARD}:101" and kept.attempts == 2


def test_a_sink_still_down_fails_the_redrive_leaves_the_letters_and_stops_trying_that_consumer(lake) -> None:
    # GIVEN seven letters and a cache that raises (down)
    sink = dead_letter_with_broken_sink(lake, startups(7))
    before = snapshot(lake)

    class Down(RefusingCache):
        def apply(self, mutations):
            raise ConnectionError("redis down")

    # WHEN redriven
    summary = cache_dlq(lake, Down()).redrive(cache_dlq(lake, Down()).plan())
    # THEN all failed, five were tried, the rest not attempted, and nothing moved
    assert [r.outcome for r in summary.results] == ["failed"] * 7
    assert sum("not attempted" in r.note for r in summary.results) == 2
    assert snapshot(lake) == before and cached(sink) == {}
