"""``auxeira verify`` on the local stack: every kind of divergence found by key, repaired, verified again."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest
from typer.testing import CliRunner

from auxeira.cli.main import app
from auxeira.operations.environment import Environment
from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from auxeira.operations.verify import VerifyOptions, run_verify
from consumers.projections.mutations import CacheSet
from consumers.projections.search import UpsertDoc
from infra.local import LocalStackSettings
from producers.repository import Repository
from schemas.envelope import order_of
from schemas.resources import COUNTERS_TABLE
from tests.factories import make_item

pytestmark = pytest.mark.integration

ACTOR = "it"


def environment(runtime: LocalRuntime) -> Environment:
    """The operations' view of a test runtime (what the command line builds from settings)."""
    return Environment(
        name=runtime.env,
        clients=runtime.endpoints.client_factory(),
        lake_root=runtime.lake_root,
        redis_url=runtime.endpoints.redis_url,
        search_path=runtime.search_sink().path,
    )


def use_stack(monkeypatch: pytest.MonkeyPatch, settings: LocalStackSettings, runtime: LocalRuntime) -> None:
    """The command line pointed at the session's stack and one test environment."""
    monkeypatch.setenv("AUXEIRA_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("AUXEIRA_DYNAMODB_PORT", str(settings.dynamodb_port))
    monkeypatch.setenv("AUXEIRA_KINESIS_PORT", str(settings.kinesis_port))
    monkeypatch.setenv("AUXEIRA_NODE_MODULES", str(settings.node_modules))
    for name in (
        "AUXEIRA_DYNAMODB_ENDPOINT",
        "AUXEIRA_KINESIS_ENDPOINT",
        "AUXEIRA_OPENSEARCH_URL",
        "AUXEIRA_REDIS_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUXEIRA_ENV", runtime.env)
    monkeypatch.setenv("AUXEIRA_STACK", "local")
    monkeypatch.setenv("AUXEIRA_LAKE_ROOT", runtime.lake_root)
    if settings.redis_url:
        monkeypatch.setenv("REDIS_URL", settings.redis_url)


def seed(runtime: LocalRuntime, tenant: str) -> None:
    """Six startups (two updated twice, one soft-deleted) and activities of three of them."""
    repo = Repository(runtime.dynamodb, env=runtime.env)
    for n in range(6):
        repo.create("startup", make_item("startup", n, tenant), actor=ACTOR)
    for n in range(8):
        repo.create("activity", make_item("activity", n, tenant, startup_id=f"s{n % 3}"), actor=ACTOR)
    for n in (2, 3):
        repo.update("startup", {"startup_id": f"s{n}"}, {"tagline": "second"}, actor=ACTOR)
        repo.update("startup", {"startup_id": f"s{n}"}, {"tagline": "third"}, actor=ACTOR)
    repo.soft_delete("startup", {"startup_id": "s5"}, actor=ACTOR, reason="duplicate")


def catch_up(runtime: LocalRuntime) -> None:
    """Run the router and every consumer until nothing moves, then stop cleanly (leases released)."""
    pipeline = build_pipeline(runtime)
    pipeline.run_until_caught_up()
    pipeline.release()


@contextmanager
def runner(runtime: LocalRuntime) -> Iterator[None]:
    """A local runner polling in the background (as `auxeira run` would), holding its leases."""
    stop, leased = threading.Event(), threading.Event()

    def loop() -> None:
        pipeline = build_pipeline(runtime)  # built here: the embedded index's connection is per thread
        try:
            while not stop.is_set():
                idle = pipeline.poll().idle
                leased.set()  # one pass done: it holds every shard's lease, as a running `auxeira run` does
                if idle:
                    stop.wait(0.1)
        finally:
            pipeline.release()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    assert leased.wait(timeout=30)
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def inject(runtime: LocalRuntime, env: Environment, tenant: str) -> dict[str, dict[str, str]]:
    """One of each divergence per projection; returns projection -> {key: kind}."""
    ns, cache = runtime.env, env.sink("cache")
    key = f"aux:{ns}:{tenant}:startup:STARTUP#s{{}}|PROFILE".format
    redis = cache.client
    redis.delete(key(1))  # missing
    cache.apply([CacheSet(key("ghost"), order_of(1, None), b'{"company_name": "ghost"}')])  # extra
    old = orjson.loads(redis.hget(key(2), "d"))
    redis.hset(key(2), mapping={"v": f"{order_of(1, None):060d}", "d": orjson.dumps({**old, "tagline": "first"})})
    corrupt = orjson.loads(redis.hget(key(3), "d"))
    redis.hset(key(3), "d", orjson.dumps({**corrupt, "company_name": "corrupted"}))  # same version, other state

    with sqlite3.connect(runtime.search_sink().path) as db:
        db.execute("DELETE FROM docs WHERE idx = 'startups' AND doc_id = 'STARTUP#s4|PROFILE'")  # missing
        db.execute(
            "UPDATE docs SET version = ? WHERE idx = 'startups' AND doc_id = 'STARTUP#s2|PROFILE'",
            (f"{order_of(1, None):060d}",),
        )  # an older version
        db.execute(
            "UPDATE docs SET body = json_set(body, '$.company_name', 'corrupted') "
            "WHERE idx = 'startups' AND doc_id = 'STARTUP#s3|PROFILE'"
        )  # same version, other body
    search = env.sink("search")
    search.apply([UpsertDoc("startups", "STARTUP#sghost|PROFILE", 5, tenant, {"tenant": tenant, "company_name": "g"})])

    # The counters' residual case: a router re-put after a crash counted one activity twice.
    runtime.dynamodb.update_item(
        TableName=COUNTERS_TABLE.physical_name(runtime.env),
        Key={"PK": {"S": f"{tenant}#STARTUP#s0"}},
        UpdateExpression="ADD activities_count :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    doc = "search:startups/STARTUP#s{}|PROFILE".format
    return {
        "cache": {key(1): "missing", key("ghost"): "extra", key(2): "stale", key(3): "stale"},
        "search": {doc(4): "missing", doc("ghost"): "extra", doc(2): "stale", doc(3): "stale"},
        "counters": {f"{tenant}#STARTUP#s0": "stale"},
    }


def found(report) -> dict[str, dict[str, str]]:
    return {name: {d.key: d.kind for d in r.drifts} for name, r in report.results.items()}


def test_verify_finds_every_injected_divergence_and_repair_leaves_none(make_runtime):
    # GIVEN a caught-up pipeline whose projections equal the tables
    runtime = make_runtime()
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    seed(runtime, tenant)
    catch_up(runtime)
    env = environment(runtime)
    clean = run_verify(env, ("cache", "search", "counters"), VerifyOptions())
    assert clean.drift == 0, clean.as_dict()
    # WHEN each kind of divergence is injected into every projection
    injected = inject(runtime, env, tenant)
    # THEN verify reports exactly those keys, each with its kind
    report = run_verify(env, ("cache", "search", "counters"), VerifyOptions())
    assert found(report) == injected
    # AND a dry run plans one envelope per drifted item and one counter correction, and changes nothing
    plan = run_verify(env, ("cache", "search", "counters"), VerifyOptions(dry_run=True))
    assert plan.repair is not None and plan.repair.dry_run
    # (the cache's and the index's ghost share one delete, at the higher of their orders)
    planned = {e["key"]: e["event_type"] for e in plan.repair.envelopes}
    assert len(plan.repair.envelopes) == len(planned) == 5
    assert planned == {
        **{f"STARTUP#s{n}|PROFILE": "startup.snapshot" for n in (1, 2, 3, 4)},
        "STARTUP#sghost|PROFILE": "startup.deleted",
    }
    same_version = {e["key"]: e["sequence"] for e in plan.repair.envelopes}
    assert same_version["STARTUP#s2|PROFILE"] is None  # an older version: the snapshot outranks it as it is
    assert same_version["STARTUP#s3|PROFILE"] is not None  # same version: a sequence above the stored one
    assert plan.repair.counter_fixes == [
        {"tenant": tenant, "parent_key": "STARTUP#s0", "add": {"activities_count": "-1"}, "set": {}, "remove": []}
    ]
    assert found(run_verify(env, ("cache", "search", "counters"), VerifyOptions())) == injected
    # WHEN it repairs while a local runner applies what it re-emits
    with runner(runtime):
        repaired = run_verify(env, ("cache", "search", "counters"), VerifyOptions(repair=True, wait_seconds=60))
    # THEN the consumers applied the snapshots and deletes, the counter was corrected, and
    # verifying again finds nothing
    assert repaired.repair is not None and repaired.repair.unrepairable == []
    assert repaired.repair.counters_fixed == 1
    assert repaired.outcome == "repaired", repaired.as_dict()
    assert run_verify(env, ("cache", "search", "counters"), VerifyOptions()).drift == 0


def test_repair_without_a_local_runner_corrects_counters_and_says_to_run_one(make_runtime):
    # GIVEN drift in the cache and a double-counted counter, and no runner (the last one stopped cleanly)
    runtime = make_runtime()
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    seed(runtime, tenant)
    catch_up(runtime)
    env = environment(runtime)
    injected = inject(runtime, env, tenant)
    # WHEN it repairs
    report = run_verify(env, ("cache", "counters"), VerifyOptions(repair=True, wait_seconds=5))
    # THEN the counters are right at once, the cache's envelopes wait on the stream, and it says what to run
    assert report.repair is not None and "auxeira run" in report.repair.message
    assert report.after is not None
    assert report.after["counters"].drifts == []
    assert {d.key for d in report.after["cache"].drifts} == set(injected["cache"])
    # AND once the runner has run, the cache is right too
    catch_up(runtime)
    assert run_verify(env, ("cache",), VerifyOptions()).drift == 0


def test_a_sample_checks_about_n_items_and_finds_drift_among_them(make_runtime):
    # GIVEN a cache missing every startup entry
    runtime = make_runtime()
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    seed(runtime, tenant)
    catch_up(runtime)
    env = environment(runtime)
    redis = env.sink("cache").client
    for n in range(6):
        redis.delete(f"aux:{runtime.env}:{tenant}:startup:STARTUP#s{n}|PROFILE")
    # WHEN a sample of 3 items per table is verified
    report = run_verify(env, ("cache",), VerifyOptions(sample=3, seed=7))
    # THEN at most 3 startups were checked, and each one checked is reported missing
    result = report.results["cache"]
    assert result.sampled
    startups = [d for d in result.drifts if "startup:" in d.key]
    assert len(startups) == 3 and all(d.kind == "missing" for d in startups)


def test_the_verify_command_reports_drift_plans_a_repair_and_exits_1_until_repaired(
    monkeypatch, make_runtime, local_stack_settings
):
    # GIVEN drift in the cache of an environment of the session's stack, as the command line sees it
    runtime = make_runtime()
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    seed(runtime, tenant)
    catch_up(runtime)
    injected = inject(runtime, environment(runtime), tenant)
    use_stack(monkeypatch, local_stack_settings, runtime)
    cli = CliRunner()
    # WHEN it verifies the cache
    found = cli.invoke(app, ["--json", "verify", "--projection", "cache"])
    # THEN it prints the drifted keys as JSON and exits 1
    assert found.exit_code == 1, found.output
    body = orjson.loads(found.stdout)
    assert body["verify"] == "drift" and {d["key"] for d in body["projections"]["cache"]["drifts"]} == set(
        injected["cache"]
    )
    # AND a dry run prints the plan, and so does --repair with no runner, which says to run one
    planned = orjson.loads(cli.invoke(app, ["--json", "verify", "--projection", "cache", "--dry-run"]).stdout)
    assert planned["repair"]["dry_run"] and len(planned["repair"]["emit"]) == 4
    repaired = cli.invoke(app, ["--json", "verify", "--projection", "cache", "--repair", "--wait", "1"])
    assert repaired.exit_code == 1 and "auxeira run" in orjson.loads(repaired.stdout)["repair"]["message"]
    # WHEN the runner has applied them, verify exits 0
    catch_up(runtime)
    assert cli.invoke(app, ["verify", "--projection", "cache"]).exit_code == 0
