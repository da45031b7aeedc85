"""``replay`` on the local stack (DynamoDB Local, kinesis-mock, Redis): a wiped cache rebuilt from
Kinesis equals the tables; a replay killed mid-way and rerun ends in the same state; the counters
never double count (replayed into live counters: unchanged; into wiped ones: equal to a recount);
the lake's archive replays like the stream."""

from __future__ import annotations

import gzip
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auxeira.operations.environment import Environment
from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from auxeira.operations.replay import ReplayRequest, replay
from auxeira.operations.replay_window import Window
from auxeira.operations.status_epochs import store_statuses
from auxeira.runtime import shard_sources
from auxeira.runtime.epochs import EpochState
from auxeira.runtime.shard_sources import KinesisSource
from consumers.handlers import archiver
from consumers.sinks.archive import ArchiveSink
from consumers.verify import Expected, compare_cache, expected_states, scan_items
from consumers.verify_counters import compare_counters
from consumers.verify_search import compare_search, expected_search_docs
from producers.repository import Repository
from schemas.resources import COUNTERS_TABLE
from tests.factories import make_item

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _settle_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window ending now waits out the stream's clock skew at each shard's tip; one clock here."""
    monkeypatch.setattr(shard_sources, "END_SETTLE_SECONDS", 0.2)


class Killed(BaseException):
    """The process dying: not an Exception, so nothing on the way catches it."""


def environment(runtime: LocalRuntime) -> Environment:
    """The operations' view of a test environment on the local stack."""
    return Environment(
        name=runtime.env,
        clients=runtime.endpoints.client_factory(),
        lake_root=runtime.lake_root,
        redis_url=runtime.endpoints.redis_url,
        search_path=runtime.search_path,
    )


def write_history(runtime: LocalRuntime, seed: int) -> list[str]:
    """Startups of two tenants, updates, activities the counters count, a soft and a hard delete."""
    run = uuid.uuid4().hex[:6]
    tenants = [f"rp-{n}-{run}" for n in "ab"]
    repo, rng = Repository(runtime.dynamodb, env=runtime.env), random.Random(seed)
    for n in range(10):
        repo.create("startup", make_item("startup", n, tenants[n % 2]), actor="it")
    for _ in range(30):
        n = rng.randrange(10)
        repo.update("startup", {"startup_id": f"s{n}"}, {"sse_score": rng.randrange(101)}, actor="it")
    for n in range(12):
        repo.create("activity", make_item("activity", n, tenants[n % 2], startup_id=f"s{n % 10}"), actor="it")
    repo.soft_delete("startup", {"startup_id": "s1"}, actor="it", reason="test")
    repo.delete("startup", {"startup_id": "s2"}, actor="it")
    return tenants


def expected(runtime: LocalRuntime, tenants: list[str]) -> list[Expected]:
    return [
        e
        for spec in runtime.tables
        for e in expected_states(spec, scan_items(runtime.dynamodb, spec.physical_name(runtime.env)), set(tenants))
    ]


def live(runtime: LocalRuntime, seed: int) -> tuple[Environment, list[str], datetime]:
    """A history routed and consumed live; returns the environment, the tenants and a time before it all."""
    start = datetime.now(UTC)
    time.sleep(0.05)
    tenants = write_history(runtime, seed)
    env = environment(runtime)
    pipeline = build_pipeline(
        runtime, env.sink("cache"), counter_sink=env.sink("counters"), search_sink=env.sink("search")
    )
    pipeline.run_until_caught_up()
    pipeline.release()
    return env, tenants, start


def wipe_cache(env: Environment, tenants: list[str]) -> None:
    sink = env.sink("cache")
    keys = [k for t in tenants for k in sink.scan_keys(t)]
    sink.client.delete(*keys, sink.epoch_key)


def wipe_search(env: Environment) -> None:
    """Lose the embedded index: its file and WAL deleted, the sink rebuilt on next use."""
    sink = env._sinks.pop("search")
    sink.close()
    for suffix in ("", "-wal", "-shm"):
        Path(sink.path + suffix).unlink(missing_ok=True)


def wipe_counters(env: Environment) -> None:
    table = COUNTERS_TABLE.physical_name(env.name)
    for item in scan_items(env.dynamodb, table):
        env.dynamodb.delete_item(TableName=table, Key={"PK": item["PK"]})


def counter_items(env: Environment, tenants: list[str]) -> dict[Any, Any]:
    return {(i.tenant, i.parent_key): i.values for t in tenants for i in env.sink("counters").scan(t)}


def test_a_wiped_cache_replayed_from_kinesis_equals_the_tables_and_is_marked_built(make_runtime):
    # GIVEN a history consumed live: the cache equals the tables
    runtime = make_runtime(shard_count=3)
    env, tenants, _ = live(runtime, seed=1)
    assert compare_cache(expected(runtime, tenants), env.sink("cache"), tenants) == []
    # WHEN Redis loses the cache and the stream's whole history is replayed
    wipe_cache(env, tenants)
    result = replay(env, ReplayRequest(("cache",), Window(datetime.now(UTC) - timedelta(days=1))))
    # THEN the cache equals the tables again (tombstones of the deleted item included)
    [summary] = result.projections
    assert result.source == "kinesis" and summary.read == summary.applied + summary.stale + summary.skipped
    assert summary.applied > 0 and summary.dead_lettered == 0
    assert compare_cache(expected(runtime, tenants), env.sink("cache"), tenants) == []
    # AND the store is marked built again, so `auxeira status` sees a store that holds a build
    assert summary.marked_built
    assert [s.check.state for s in store_statuses(env, ("cache",))] == [EpochState.OK]


def test_a_replay_killed_mid_way_and_rerun_ends_as_an_uninterrupted_one(make_runtime):
    # GIVEN a history consumed live, then the cache and the search index wiped
    runtime = make_runtime(shard_count=3)
    env, tenants, start = live(runtime, seed=2)
    wipe_cache(env, tenants)
    wipe_search(env)
    # WHEN a replay of every projection dies after its fourth batch, and is run again
    seen = {"batches": 0}

    def die_after_four(report) -> None:
        seen["batches"] += 1
        if seen["batches"] == 4:
            raise Killed()

    request = ReplayRequest(("cache", "search", "counters"), Window(start))
    with pytest.raises(Killed):
        replay(env, request, observer=die_after_four, batch_size=10)
    result = replay(env, request, batch_size=10)
    # THEN it resumed, and every projection equals the tables: nothing lost, nothing counted twice
    assert any(p.resumed_shards for p in result.projections)
    found = expected(runtime, tenants)
    assert compare_cache(found, env.sink("cache"), tenants) == []
    assert compare_search(expected_search_docs(found), env.sink("search"), tenants) == []
    assert compare_counters(found, env.sink("counters"), tenants) == []


def test_counters_replayed_into_live_counters_do_not_move_and_into_wiped_ones_equal_a_recount(make_runtime):
    # GIVEN live counters that equal a recount from the tables
    runtime = make_runtime()
    env, tenants, start = live(runtime, seed=3)
    found = expected(runtime, tenants)
    assert compare_counters(found, env.sink("counters"), tenants) == []
    before = counter_items(env, tenants)
    # WHEN the whole window is replayed into them
    summary = replay(env, ReplayRequest(("counters",), Window(start))).projections[0]
    # THEN the per-shard watermarks skip every record: not one counter moved
    assert summary.applied == 0 and summary.stale > 0
    assert counter_items(env, tenants) == before
    # AND after the counters table is wiped, the replay counts each record exactly once
    wipe_counters(env)
    assert replay(env, ReplayRequest(("counters",), Window(start))).projections[0].applied > 0
    assert compare_counters(found, env.sink("counters"), tenants) == []
    assert counter_items(env, tenants) == before


def test_the_lake_archive_replays_like_the_stream(make_runtime):
    # GIVEN a history consumed live and archived by the archiver's handler
    runtime = make_runtime()
    env, tenants, start = live(runtime, seed=4)
    handle = archiver.build_handler(ArchiveSink(env.objects), env.dead_letters())
    source = KinesisSource(env.kinesis, env.stream_name)
    for shard in source.shards():
        records = source.read(shard.shard_id, source.iterator(shard.shard_id, None), 10_000).records
        for i in range(0, len(records), 20):
            handle({"Records": records[i : i + 20]}, None)
    before = counter_items(env, tenants)
    wipe_cache(env, tenants)
    # WHEN the cache and the (live) counters are replayed from the lake
    result = replay(env, ReplayRequest(("cache", "counters"), Window(start), source="lake"))
    # THEN the cache equals the tables and the counters did not move
    assert result.source == "lake"
    assert compare_cache(expected(runtime, tenants), env.sink("cache"), tenants) == []
    assert counter_items(env, tenants) == before


def archived_lines(env: Environment) -> list[bytes]:
    return sorted(
        line for key in env.objects.list("raw/") for line in gzip.decompress(env.objects.get(key)).splitlines()
    )


def test_a_window_replayed_into_the_archive_three_times_leaves_the_same_objects_and_rows(make_runtime):
    # GIVEN a history consumed live, the archiver among the consumers
    runtime = make_runtime()
    env, _, start = live(runtime, seed=5)
    live_lines = archived_lines(env)
    assert live_lines
    # WHEN the archive is lost and the window is replayed into it from Kinesis, three times
    for key in list(env.objects.list("raw/")):
        env.objects.delete(key)
    snapshots = []
    for n in range(3):
        summary = replay(env, ReplayRequest(("archive",), Window(start), source="kinesis")).projections[0]
        assert summary.dead_lettered == 0 and summary.applied == (summary.read if n == 0 else 0)
        snapshots.append({k: env.objects.get(k) for k in env.objects.list("raw/")})
    # THEN every replay left the same objects, holding the rows the live archiver wrote, each once
    assert snapshots[0] == snapshots[1] == snapshots[2]
    assert archived_lines(env) == live_lines
    # AND replaying the lake into itself is refused
    with pytest.raises(ValueError, match="into itself"):
        replay(env, ReplayRequest(("archive",), Window(start), source="lake"))
