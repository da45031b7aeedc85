"""``auxeira status`` on the local stack: lag and retention (an injected clock), a reshard, a wiped Redis."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest
from typer.testing import CliRunner

from auxeira.cli.main import app
from auxeira.operations.emit import emit
from auxeira.operations.environment import Environment
from auxeira.operations.local_stack_pipeline import LocalRuntime
from auxeira.operations.status import collect_status
from auxeira.operations.status_epochs import mark_store_built
from auxeira.runtime.epochs import EpochCheck, EpochGuard, EpochRecords, EpochState
from consumers.handlers import cache as cache_handler
from tests.integration.test_verify import catch_up, environment, use_stack
from tests.kinesis_records import envelope, kinesis_event, kinesis_record

pytestmark = pytest.mark.integration

HOUR = 3600.0


def put_events(env: Environment, tenant: str, count: int) -> None:
    """``count`` startup updates on the events stream, as the router would put them."""
    envelopes = [envelope(f"STARTUP#s{n}|PROFILE", 1, "created", tenant=tenant) for n in range(count)]
    assert emit(env, envelopes).put == count


def consumer(report, name: str):
    [found] = [c for c in report.consumers if c.consumer == name]
    return found


def test_unprocessed_records_warn_of_lag_and_of_retention_before_they_leave_the_stream(make_runtime):
    # GIVEN 12 events on the stream that no consumer has read yet
    runtime = make_runtime()
    env = environment(runtime)
    put_events(env, f"t-{uuid.uuid4().hex[:6]}", 12)
    now = time.time()
    # WHEN status looks right away
    fresh = collect_status(env, clock=lambda: now)
    # THEN each consumer is 12 records behind with nothing to warn about yet
    cache = consumer(fresh, "cache")
    assert cache.records_behind == 12 and not cache.capped and cache.retention_hours == 24
    assert cache.oldest_unprocessed_at is not None and abs(cache.oldest_unprocessed_at - now) < 60
    assert all(s.checkpoint is None and s.millis_behind is not None for s in cache.shards)
    assert not fresh.problem, fresh.all_warnings
    # AND a count stops at its cap
    full = {s.shard_id: s.records_behind for s in cache.shards}
    capped = {s.shard_id: (s.records_behind, s.capped) for s in consumer(collect_status(env, cap=5), "cache").shards}
    assert capped == {shard: (min(n, 5), n >= 5) for shard, n in full.items()}
    # WHEN the same records have waited 19 hours (of 24 hours' retention)
    late = collect_status(env, clock=lambda: now + 19 * HOUR)
    warnings = consumer(late, "cache").warnings
    # THEN it warns of the lag and that they leave the stream in about 5 hours
    assert any("records behind, the oldest waiting 19h" in w for w in warnings), warnings
    assert any("leaves the stream in 4h" in w or "leaves the stream in 5h" in w for w in warnings), warnings
    assert late.problem
    # AND past the retention it says they are gone and to rebuild
    gone = consumer(collect_status(env, clock=lambda: now + 25 * HOUR), "counters").warnings
    assert any("past the stream's retention" in w and "auxeira backfill" in w for w in gone), gone
    # WHEN the consumers catch up
    catch_up(runtime)
    caught = collect_status(env)
    # THEN nothing is behind and the newest event applied is the last one put
    cache = consumer(caught, "cache")
    assert cache.records_behind == 0 and cache.oldest_unprocessed_at is None
    assert cache.newest_applied_at is not None and abs(cache.newest_applied_at - now) < 60
    assert not caught.problem, caught.all_warnings


def test_status_shows_parents_finished_and_their_children_after_a_reshard(make_runtime):
    # GIVEN a consumed two-shard stream resharded to four, with more events after the reshard
    runtime = make_runtime(shard_count=2)
    env, tenant = environment(runtime), f"t-{uuid.uuid4().hex[:6]}"
    put_events(env, tenant, 10)
    catch_up(runtime)
    runtime.kinesis.update_shard_count(
        StreamName=runtime.stream_name, TargetShardCount=4, ScalingType="UNIFORM_SCALING"
    )
    _wait_active(runtime)
    put_events(env, tenant, 10)
    # WHEN status looks before and after the consumers follow the children
    before = consumer(collect_status(env), "cache")
    catch_up(runtime)
    after = consumer(collect_status(env), "cache")
    # THEN it shows every parent and child shard, children with their parents, parents finished
    children = [s for s in after.shards if s.parent_ids]
    parents = {p for s in children for p in s.parent_ids}
    assert len(children) >= 4 and parents
    assert before.records_behind == 10
    assert all(s.finished for s in after.shards if s.shard_id in parents)
    assert after.records_behind == 0


def test_a_wiped_redis_is_a_reset_store_for_status_and_for_the_consumer(make_runtime):
    # GIVEN a cache consumer whose epoch guard marked its store on first use
    runtime = make_runtime()
    env, tenant = environment(runtime), f"t-{uuid.uuid4().hex[:6]}"
    sink, alarms, clock = env.sink("cache"), [], [0.0]
    guard = EpochGuard(
        "cache", sink, EpochRecords(env.dynamodb, env.checkpoint_table), alarm=alarms.append, clock=lambda: clock[0]
    )
    handler = cache_handler.build_handler(sink, env.dead_letters(), epochs=guard)
    handler(kinesis_event(kinesis_record(envelope("STARTUP#s1|PROFILE", 1, "created", tenant=tenant))), None)
    assert [s.check.state for s in collect_status(env).stores if s.check.store == "cache"] == [EpochState.OK]
    # WHEN Redis loses every key of this environment (a restart keeps nothing on disk)
    redis = sink.client
    for key in list(redis.scan_iter(match=f"aux:{runtime.env}:*")):
        redis.delete(key)
    # THEN status reports the cache reset, with the commands that rebuild it, and exits 1
    report = collect_status(env)
    [store] = [s for s in report.stores if s.check.store == "cache"]
    assert store.check.state is EpochState.RESET and report.problem
    assert any("auxeira backfill --table all" in line for line in store.rebuild)
    # AND the consumer raises the alarm at its next check, and keeps applying live events
    clock[0] += 61
    handler(kinesis_event(kinesis_record(envelope("STARTUP#s2|PROFILE", 1, "created", tenant=tenant))), None)
    assert [a.state for a in alarms] == [EpochState.RESET]
    assert sink.get(f"aux:{runtime.env}:{tenant}:startup:STARTUP#s2|PROFILE") is not None
    # WHEN a rebuild marks the store built
    mark_store_built(env, "cache", by="backfill")
    clock[0] += 61
    handler(kinesis_event(kinesis_record(envelope("STARTUP#s3|PROFILE", 1, "created", tenant=tenant))), None)
    # THEN neither status nor the consumer sees a problem any more
    assert len(alarms) == 1 and isinstance(alarms[0], EpochCheck)
    assert [s.check.state for s in collect_status(env).stores if s.check.store == "cache"] == [EpochState.OK]


def test_the_status_command_prints_json_and_exits_1_on_a_problem(monkeypatch, make_runtime, local_stack_settings):
    # GIVEN an environment of the session's stack with events no consumer read, as `auxeira status` sees it
    runtime = make_runtime()
    use_stack(monkeypatch, local_stack_settings, runtime)
    runner = CliRunner()
    put_events(environment(runtime), f"t-{uuid.uuid4().hex[:6]}", 3)
    # WHEN it runs now
    ok = runner.invoke(app, ["--json", "status"])
    # THEN it prints one JSON document and exits 0: nothing has waited long
    assert ok.exit_code == 0, ok.output
    body = orjson.loads(ok.stdout)
    assert body["status"] == "ok" and body["view"] == "local"
    assert {c["consumer"] for c in body["consumers"]} >= {"cache", "search", "counters"}
    assert [c["records_behind"] for c in body["consumers"] if c["consumer"] == "cache"] == [3]
    # WHEN it runs with a lag threshold of zero minutes
    late = runner.invoke(app, ["--json", "status", "--lag-minutes", "0"])
    # THEN it warns, and exits 1
    assert late.exit_code == 1, late.output
    assert orjson.loads(late.stdout)["warnings"]


def _wait_active(runtime: LocalRuntime, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary = runtime.kinesis.describe_stream_summary(StreamName=runtime.stream_name)
        if summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return
        time.sleep(0.2)
    raise TimeoutError("stream not ACTIVE after resharding")
