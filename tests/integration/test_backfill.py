"""``backfill`` on the local stack: snapshots through the real stream fill an empty cache and search
index to equal the tables, a rerun changes nothing, and a backfill racing live writes (updates,
soft and hard deletes) leaves no stale entry behind."""

from __future__ import annotations

import random
import threading
import time
import uuid
from pathlib import Path

import pytest

from auxeira.operations.backfill import backfill, tables_of
from auxeira.operations.emit import emit
from auxeira.operations.environment import Environment
from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from auxeira.runtime.local_pipeline import LocalPipeline
from auxeira.runtime.observability import StatsObserver
from consumers.verify import Expected, compare_cache, expected_states, scan_items
from consumers.verify_counters import compare_counters
from consumers.verify_search import compare_search, expected_search_docs
from producers.repository import Repository
from tests.factories import make_item

pytestmark = pytest.mark.integration


def environment(runtime: LocalRuntime) -> Environment:
    return Environment(
        name=runtime.env,
        clients=runtime.endpoints.client_factory(),
        lake_root=runtime.lake_root,
        redis_url=runtime.endpoints.redis_url,
        search_path=runtime.search_path,
    )


def seed(runtime: LocalRuntime, startups: int = 24) -> tuple[Repository, list[str]]:
    run = uuid.uuid4().hex[:6]
    tenants = [f"bf-{n}-{run}" for n in "ab"]
    repo = Repository(runtime.dynamodb, env=runtime.env)
    for n in range(startups):
        repo.create("startup", make_item("startup", n, tenants[n % 2]), actor="it")
    for n in range(8):
        repo.create("activity", make_item("activity", n, tenants[n % 2], startup_id=f"s{n}"), actor="it")
    return repo, tenants


def expected(runtime: LocalRuntime, tenants: list[str]) -> list[Expected]:
    return [
        e
        for spec in runtime.tables
        for e in expected_states(spec, scan_items(runtime.dynamodb, spec.physical_name(runtime.env)), set(tenants))
    ]


def pipeline(runtime: LocalRuntime, env: Environment, stats: StatsObserver | None = None) -> LocalPipeline:
    return build_pipeline(
        runtime, env.sink("cache"), counter_sink=env.sink("counters"), search_sink=env.sink("search"), observer=stats
    )


def drift(runtime: LocalRuntime, env: Environment, tenants: list[str]) -> dict[str, list]:
    found = expected(runtime, tenants)
    return {
        "cache": compare_cache(found, env.sink("cache"), tenants),
        "search": compare_search(expected_search_docs(found), env.sink("search"), tenants),
        "counters": compare_counters(found, env.sink("counters"), tenants),
    }


def wipe(env: Environment, tenants: list[str]) -> None:
    """The cache and the search index lose their state (an outage, or a new store); checkpoints stay."""
    cache = env.sink("cache")
    cache.client.delete(*[k for t in tenants for k in cache.scan_keys(t)])
    search = env._sinks.pop("search")
    search.close()
    for suffix in ("", "-wal", "-shm"):
        Path(search.path + suffix).unlink(missing_ok=True)


def test_backfill_fills_an_empty_cache_and_search_index_and_a_rerun_changes_nothing(make_runtime):
    # GIVEN tables consumed live, then a cache and a search index that lost everything
    # (as a new projection, or one whose stream fell past retention, starts)
    runtime = make_runtime(shard_count=3)
    _, tenants = seed(runtime)
    env = environment(runtime)
    live = pipeline(runtime, env)
    live.run_until_caught_up()
    live.release()
    wipe(env, tenants)
    assert next(iter(env.sink("cache").scan_keys(tenants[0])), None) is None
    # WHEN every table is backfilled and the consumers catch up
    result = backfill(env, tables_of(env, "all"), segments=3)
    stats = StatsObserver()
    consumers = pipeline(runtime, env, stats)
    consumers.run_until_caught_up()
    consumers.release()
    # THEN the cache and the index equal the tables, and the counters (which skip snapshots) did not move
    assert not result.problem and sum(t.emitted for t in result.tables) == 24 + 8
    assert result.marked_built == ["cache", "search"]
    assert drift(runtime, env, tenants) == {"cache": [], "search": [], "counters": []}
    assert stats.totals["cache"].applied == 32 and stats.totals["counters"].applied == 0
    # AND a second backfill is all stale: nothing changes
    again = backfill(env, tables_of(env, "startups"), segments=2)
    assert again.tables[0].restarted and again.tables[0].emitted == 24
    rerun = StatsObserver()
    followers = pipeline(runtime, env, rerun)
    followers.run_until_caught_up()
    assert rerun.totals["cache"].applied == 0 and rerun.totals["cache"].stale == 24
    assert rerun.totals["search"].applied == 0
    assert drift(runtime, env, tenants) == {"cache": [], "search": [], "counters": []}


def test_a_backfill_racing_live_writes_and_deletes_leaves_no_stale_state(make_runtime):
    # GIVEN tables consumed live, then a cache that lost its state
    runtime = make_runtime(shard_count=3)
    repo, tenants = seed(runtime, startups=30)
    env = environment(runtime)
    live = pipeline(runtime, env)
    live.run_until_caught_up()
    live.release()
    wipe(env, tenants)
    live = pipeline(runtime, env)
    # WHEN a backfill runs while a writer updates, soft-deletes and deletes, and the pipeline keeps consuming
    rng, done = random.Random(5), threading.Event()

    def writer() -> None:
        try:
            for w in range(60):
                n = rng.randrange(30)
                key = {"startup_id": f"s{n}"}
                if w % 20 == 7 and repo.get("startup", key) is not None:
                    repo.delete("startup", key, actor="it")
                elif w % 20 == 13 and repo.get("startup", key) is not None:
                    repo.soft_delete("startup", key, actor="it", reason="race")
                elif repo.get("startup", key) is not None:
                    repo.update("startup", key, {"sse_score": rng.randrange(101), "tagline": f"w{w}"}, actor="it")
        finally:
            done.set()

    results: list = []
    puts: list[float] = []

    def timed_emit(env: Environment, envelopes):
        puts.append(time.monotonic())
        return emit(env, envelopes)

    def fill() -> None:
        tables = (*tables_of(env, "startups"), *tables_of(env, "activities"))
        results.append(backfill(env, tables, segments=4, rate=40.0, page_size=4, emitter=timed_emit))

    threads = [threading.Thread(target=writer), threading.Thread(target=fill)]
    began = time.monotonic()
    for t in threads:
        t.start()
    while not done.is_set():
        live.poll()
    ended = time.monotonic()
    for t in threads:
        t.join()
    live.run_until_caught_up()
    assert [r.problem for r in results] == [False]
    assert any(began < at < ended for at in puts), "the backfill and the writes did not overlap"
    # THEN every projection equals the tables: no snapshot overwrote a newer change, no delete came back
    assert drift(runtime, env, tenants) == {"cache": [], "search": [], "counters": []}
