"""``replay`` from Kinesis (moto) into in-memory stores through the real handlers: the window's
bounds, idempotence, counters that never double count, resuming after a kill, a finished
window replayed again, record age, the rate limit and the dry run's plan."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
from consumers.sinks.counters_memory import InMemoryCounterSink
from consumers.sinks.memory import InMemoryCacheSink
from consumers.sinks.search_embedded import EmbeddedSearchSink
from infra.tables import create_table_request
from schemas.envelope import Envelope, Source
from schemas.resources import CHECKPOINTS_TABLE
from tests.counter_delivery import counters_of


class Killed(BaseException):
    """The process dying: not an Exception, so nothing on the way catches it."""


def change(entity: str, n: int, version: int, **state: Any) -> Envelope:
    action = "created" if version == 1 else "updated"
    return Envelope(
        event_id=f"{entity}-{n}-v{version}",
        event_type=f"{entity}.{action}",
        tenant_id="t1",
        entity=entity,
        key=f"{entity.upper()}#{n}|PROFILE",
        version=version,
        source=Source(table="auxeira-startups-t"),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        before=None,
        after={"tenant_id": "t1", "version": version, **state},
    )


def history(startups: int = 6, versions: int = 3, activities: int = 8) -> list[Envelope]:
    """Startups at several versions, and activities that the counters count."""
    events = [
        change("startup", n, v, startup_id=f"s{n}", company_name=f"Co {n} v{v}")
        for v in range(1, versions + 1)
        for n in range(startups)
    ]
    events += [
        change("activity", n, 1, startup_id=f"s{n % 3}", activity_id=f"a{n}", aux_tokens_earned=n)
        for n in range(activities)
    ]
    return events


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Environment]:
    """An environment on moto: checkpoint table, a 2-shard events stream, in-memory stores."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    # Windows here end a moment ago; no need to wait out Kinesis' clock skew.
    monkeypatch.setattr(shard_sources, "END_SETTLE_SECONDS", 0.0)
    with mock_aws():
        env = Environment(name="t", clients=ClientFactory(region="us-east-1"), lake_root=str(tmp_path / "lake"))
        env.dynamodb.create_table(**create_table_request(CHECKPOINTS_TABLE, "t"))
        env.kinesis.create_stream(StreamName=env.stream_name, ShardCount=2)
        env._sinks.update(
            cache=InMemoryCacheSink(namespace="t"),
            counters=InMemoryCounterSink(),
            search=EmbeddedSearchSink(tmp_path / "search.db"),
        )
        yield env


def put(env: Environment, events: list[Envelope], ago: timedelta = timedelta(0)) -> tuple[datetime, datetime]:
    """Put ``events`` on the stream; returns a window just around them (their arrival is ``ago``)."""
    start = datetime.now(UTC) - ago
    time.sleep(0.01)
    assert emit(env, events).failed == []
    time.sleep(0.01)
    return start, datetime.now(UTC) - ago


def fresh(env: Environment, projection: str) -> Any:
    """Wipe one store (what an outage or a bug fix does to it)."""
    sink = InMemoryCounterSink() if projection == "counters" else InMemoryCacheSink(namespace="t")
    env._sinks[projection] = sink
    return sink


def request(projections: str, start: datetime, end: datetime | None = None, **kw: Any) -> ReplayRequest:
    return ReplayRequest(projections_of(projections), Window(start, end), **kw)


def cached(env: Environment) -> dict[str, int]:
    sink = env._sinks["cache"]
    return {k: sink.get(k).version for k in sink.scan_keys("t1")}


def test_a_wiped_cache_is_rebuilt_from_the_window_and_a_second_replay_changes_nothing(env):
    # GIVEN 26 changes on two shards, replayed once into a live cache
    start, end = put(env, history())
    replay(env, request("cache", start, end))
    live = cached(env)
    assert len(live) == 6 + 8
    # WHEN the cache is wiped and the window replayed
    fresh(env, "cache")
    result = replay(env, request("cache", start, end))
    # THEN the cache equals the live one, every record was read once, and nothing is a problem
    assert cached(env) == live
    [summary] = result.projections
    assert (summary.read, summary.applied, summary.stale, summary.dead_lettered) == (26, 26, 0, 0)
    assert not result.problem and result.source == "kinesis"
    # AND replaying it once more applies nothing
    again = replay(env, request("cache", start, end)).projections[0]
    assert again.restarted and (again.read, again.applied, again.stale) == (26, 0, 26)


def test_only_records_that_arrived_inside_the_window_are_replayed(env):
    # GIVEN version 1 before the window, version 2 inside it, version 3 after it
    put(env, history(versions=1, activities=0))
    start, end = put(env, [change("startup", n, 2, startup_id=f"s{n}") for n in range(6)])
    put(env, [change("startup", n, 3, startup_id=f"s{n}") for n in range(6)])
    # WHEN the window is replayed into an empty cache
    result = replay(env, request("cache", start, end))
    # THEN exactly the six version-2 records were read and applied
    assert result.projections[0].read == 6
    assert set(cached(env).values()) == {2 * 10**40}


def test_counters_replayed_into_live_counters_do_not_move_and_into_wiped_ones_equal_a_recount(env):
    # GIVEN the counters built live from the whole history
    start, end = put(env, history())
    replay(env, request("counters", start, end))
    live = counters_of(env._sinks["counters"])
    assert live[("t1", "STARTUP#s0")]["activities_count"] == 3
    # WHEN the same window is replayed into the live counters
    summary = replay(env, request("counters", start, end)).projections[0]
    # THEN the per-shard watermarks skip every record: nothing counted twice
    assert counters_of(env._sinks["counters"]) == live
    assert summary.applied == 0 and summary.stale == 8
    # AND into a wiped counters table the replay counts each record once
    fresh(env, "counters")
    replay(env, request("counters", start, end))
    assert counters_of(env._sinks["counters"]) == live


def test_a_replay_killed_mid_way_resumes_and_applies_nothing_twice(env):
    # GIVEN a window of 26 records and an uninterrupted replay's result as the reference
    start, end = put(env, history())
    replay(env, request("all", start, end))
    reference = (cached(env), counters_of(env._sinks["counters"]))
    cache, counters = fresh(env, "cache"), fresh(env, "counters")
    # WHEN a replay dies after its third batch reached the stores, before that batch's checkpoint
    batches = {"n": 0}

    def die_after_three(report):
        batches["n"] += 1
        if batches["n"] == 3:
            raise Killed()

    with pytest.raises(Killed):
        replay(env, request("cache,counters", start, end), observer=die_after_three, batch_size=4)
    applied_before = len(cached(env))
    assert 0 < applied_before < len(reference[0])
    # AND the same command is run again
    result = replay(env, request("cache,counters", start, end), batch_size=4)
    # THEN it resumed (the killed run's checkpoints), re-delivered only the unsaved batch, as stale
    by = {p.projection: p for p in result.projections}
    assert by["cache"].resumed_shards > 0 and not by["cache"].restarted
    assert by["cache"].read < 26 and by["cache"].stale <= 4
    assert (cached(env), counters_of(counters)) == reference
    assert cache is env._sinks["cache"]


def test_records_older_than_the_mappings_record_age_are_replayed_not_discarded(env, monkeypatch):
    # GIVEN a window of records that reached the stream 7 hours ago (the mapping's record age is 6 h)
    import moto.kinesis.models as moto_kinesis

    real = moto_kinesis.utcnow
    monkeypatch.setattr(moto_kinesis, "utcnow", lambda: real() - timedelta(hours=7))
    start, end = put(env, history(activities=0), ago=timedelta(hours=7))
    # WHEN it is replayed
    summary = replay(env, request("cache", start, end)).projections[0]
    # THEN every record reached the cache and none went to the failure destination
    assert (summary.read, summary.dead_lettered) == (18, 0)
    assert len(cached(env)) == 6
    assert list(env.failure_records().list()) == []


def test_the_rate_limit_spreads_the_records_over_time(env):
    start, end = put(env, history(startups=10, versions=1, activities=0))
    began = time.monotonic()
    replay(env, request("cache", start, end, rate=40.0), batch_size=5)
    # 10 records at 40/s with a burst of 4: at least 6 waits of 1/40 s
    assert time.monotonic() - began >= 6 / 40


def test_the_dry_run_prints_shards_positions_and_counts_per_event_type_and_changes_nothing(env):
    # GIVEN a window of 26 records
    start, end = put(env, history())
    # WHEN planned
    found = plan(env, request("cache,counters", start, end))
    # THEN it names the stream, both shards from AT_TIMESTAMP, and what each projection would be sent
    assert found.source == "kinesis" and found.stream == env.stream_name and found.retention_hours == 24
    assert len(found.shards) == 2 and sum(s.records for s in found.shards) == 26
    assert all(s.start.startswith("AT_TIMESTAMP ") and s.first_sequence for s in found.shards)
    by = {p.projection: p for p in found.projections}
    assert by["cache"].event_types == {"startup.created": 6, "startup.updated": 12, "activity.created": 8}
    assert by["counters"].records == 26 and by["counters"].consumer.startswith("replay:counters:")
    assert any("watermark" in note for note in found.notes)
    # AND nothing was written: no checkpoint row, nothing cached
    assert env.dynamodb.scan(TableName=env.checkpoint_table)["Items"] == []
    assert cached(env) == {}


def test_the_dry_run_of_a_resumable_replay_starts_each_shard_after_its_checkpoint(env):
    # GIVEN a replay killed in its second batch: the first (4 records of one shard) is checkpointed
    start, end = put(env, history())
    batches = {"n": 0}

    def die_in_the_second(report):
        batches["n"] += 1
        if batches["n"] == 2:
            raise Killed()

    with pytest.raises(Killed):
        replay(env, request("cache", start, end), observer=die_in_the_second, batch_size=4)
    # WHEN planned
    found = plan(env, request("cache", start, end)).projections[0]
    # THEN one shard resumes after its checkpoint and the plan counts only what is left
    assert sorted(p.split()[0] for p in found.positions.values()) == ["AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP"]
    assert found.records == 26 - 4 and not found.restart
    # AND once the window is finished, the plan says it replays again from the start
    replay(env, request("cache", start, end))
    again = plan(env, request("cache", start, end)).projections[0]
    assert again.restart and again.records == 26


def test_a_projection_that_does_not_exist_is_refused_by_name():
    with pytest.raises(ValueError, match="spaceships"):
        projections_of("spaceships")
    assert projections_of("all") == ("cache", "search", "counters")


def test_search_is_replayed_through_its_handler(env):
    start, end = put(env, history(activities=0))
    summary = replay(env, request("search", start, end)).projections[0]
    assert (summary.read, summary.applied) == (18, 18)
    assert env._sinks["search"].count("t1", "startups") == 6


def test_a_record_a_replay_gives_up_is_filed_as_its_projections_own_with_the_real_time(tmp_path):
    # GIVEN the failure record the runner builds for a replay (its consumer name, its shifted clock)
    from auxeira.operations.replay_runner import FiledAs
    from auxeira.runtime import failure_records
    from auxeira.runtime.objects import LocalObjects
    from tests.kinesis_records import envelope, kinesis_record

    record = kinesis_record(envelope(), shard="shardId-000000000001")
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    document = failure_records.build(
        [record],
        consumer="replay:cache:20260101T000000Z:now",
        condition="RecordAgeExceeded",
        invoke_count=1,
        function_error=None,
        at=long_ago,
    )
    # WHEN it is filed
    key = FiledAs(LocalObjects(tmp_path), "cache").put(document, consumer="replay:cache:20260101T000000Z:now")
    # THEN it lands with the live cache mapping's records, stamped now, naming the cache function
    assert f"/{failure_records.mapping_uuid('cache', record['eventSourceARN'])}/" in key
    [filed] = failure_records.FailureRecords(LocalObjects(tmp_path)).list()
    filed_at = datetime.fromisoformat(filed.timestamp.replace("Z", "+00:00"))
    assert datetime.now(UTC) - filed_at < timedelta(minutes=1)
    assert (
        filed.records is not None
        and filed.records[0]["kinesis"]["sequenceNumber"] == record["kinesis"]["sequenceNumber"]
    )


def test_a_projection_whose_window_is_finished_is_left_be_until_the_whole_command_has_finished(env):
    # GIVEN the cache's replay of a window ran to its end
    start, end = put(env, history())
    replay(env, request("cache", start, end))
    # WHEN the window is replayed into the cache and the counters
    first = {p.projection: p for p in replay(env, request("cache,counters", start, end)).projections}
    # THEN the cache has nothing left to do, the counters read the whole window
    assert (first["cache"].read, first["cache"].restarted) == (0, False)
    assert first["counters"].read == 26
    # AND once both are finished, the same command replays the window again for both
    again = replay(env, request("cache,counters", start, end)).projections
    assert [(p.read, p.restarted) for p in again] == [(26, True), (26, True)]
