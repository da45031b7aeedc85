"""``verify`` on moto and in-memory sinks: every kind of drift found by key from both sides, repair
envelopes that outrank exactly the drifted entries, corrective counter deltas, segmented and
sampled reads."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest
from moto import mock_aws

from auxeira.operations.environment import Environment
from auxeira.operations.verify import VerifyOptions, compare, run_verify
from auxeira.operations.verify_counters import apply_fix, counter_fix
from auxeira.operations.verify_lookup import ItemLookup
from auxeira.operations.verify_repair import plan_envelopes
from auxeira.operations.verify_report import Drift
from auxeira.operations.verify_scan import chunks, reservoir, table_pages
from auxeira.runtime.clients import ClientFactory
from consumers.projections import cache, search
from consumers.projections.counter_items import histogram_attr
from consumers.projections.counters import CounterItem, deltas, plan
from consumers.projections.mutations import CacheSet
from consumers.projections.search import UpsertDoc
from consumers.sinks.counters_dynamo import DynamoCounterSink
from consumers.sinks.memory import InMemoryCacheSink
from consumers.sinks.search_embedded import EmbeddedSearchSink
from infra.tables import create_table_request
from producers.stream_router import to_envelope
from schemas import catalog
from schemas.envelope import order_of
from schemas.resources import CHECKPOINTS_TABLE, COUNTERS_TABLE, Registry
from schemas.wire.dynamodb import serialize_item
from tests.factories import make_stored_item
from tests.moto_tables import serialized
from tests.stream_records import stream_record

STARTUPS, ACTIVITIES = catalog.table("startups"), catalog.table("activities")
TENANT = "t1"
KEY = "STARTUP#s{}|PROFILE".format


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Environment]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        env = Environment(
            name="t",
            clients=ClientFactory(region="us-east-1"),
            lake_root=str(tmp_path / "lake"),
            registry=Registry(source_tables=(STARTUPS, ACTIVITIES)),
        )
        client = env.dynamodb
        env.__dict__["dynamodb"] = serialized(client)  # the scan's segments run in threads; moto is not thread-safe
        for spec in (CHECKPOINTS_TABLE, COUNTERS_TABLE, STARTUPS, ACTIVITIES):
            client.create_table(**create_table_request(spec, "t"))
        yield env


class Projections:
    """Every projection of ``env``, filled as the consumers would fill them from INSERT records."""

    def __init__(self, env: Environment):
        self.cache = InMemoryCacheSink(namespace="t")
        self.search = EmbeddedSearchSink(":memory:")
        self.counters = DynamoCounterSink(env.dynamodb, COUNTERS_TABLE.physical_name("t"), max_workers=1)
        self.sequence = 1000

    @property
    def sinks(self) -> dict[str, Any]:
        return {"cache": self.cache, "search": self.search, "counters": self.counters}

    def insert(self, env: Environment, spec: Any, item: dict[str, Any]) -> None:
        env.dynamodb.put_item(TableName=env.table_name(spec), Item=serialize_item(item))
        self.sequence += 1
        envelope = to_envelope(stream_record(env.table_name(spec), "INSERT", new=item, sequence=str(self.sequence)))
        self.cache.apply(cache.project(envelope, "t"))
        self.search.apply(search.project(envelope))
        self.counters.write(plan([("shardId-000000000000", str(self.sequence), envelope)]))


@pytest.fixture
def world(env: Environment) -> Projections:
    """Five startups, four activities of s0 and s1, every projection right."""
    projections = Projections(env)
    for n in range(5):
        projections.insert(env, STARTUPS, make_stored_item("startup", n, TENANT, version=2))
    for n in range(4):
        projections.insert(env, ACTIVITIES, make_stored_item("activity", n, TENANT, startup_id=f"s{n % 2}"))
    return projections


def drift_of(env: Environment, world: Projections, **options: Any) -> dict[str, dict[str, str]]:
    checks = compare(env, ("cache", "search", "counters"), VerifyOptions(**options), sinks=world.sinks)
    return {c.projection: {d.key: d.kind for d in c.result.drifts} for c in checks}


def test_right_projections_have_no_drift(env, world):
    assert drift_of(env, world) == {"cache": {}, "search": {}, "counters": {}}


def test_every_kind_of_drift_is_found_by_key_from_both_sides(env, world):
    # GIVEN in each projection: an entry gone, one with no item, one older, one corrupted at its version
    ckey = f"aux:t:{TENANT}:startup:{{}}".format
    world.cache._data.pop(ckey(KEY(0)))
    world.cache.apply([CacheSet(ckey(KEY(9)), order_of(1, "5"), b'{"company_name": "ghost"}')])
    stored = world.cache.get(ckey(KEY(1)))
    world.cache._data[ckey(KEY(1))] = world.cache._data[ckey(KEY(1))].__class__(order_of(1, "3"), b"{}", None)
    corrupt = orjson.dumps({**stored.state, "company_name": "corrupted"})
    world.cache._data[ckey(KEY(2))] = world.cache._data[ckey(KEY(2))].__class__(
        world.cache.get(ckey(KEY(2))).version, corrupt, None
    )
    world.search.conn.execute("DELETE FROM docs WHERE doc_id = ?", (KEY(3),))
    world.search.apply(
        [UpsertDoc("startups", KEY(8), order_of(1, "4"), TENANT, {"tenant": TENANT, "company_name": "x"})]
    )
    # AND a counter counted one activity twice
    item = world.counters.get(TENANT, "STARTUP#s0")
    env.dynamodb.update_item(
        TableName=COUNTERS_TABLE.physical_name("t"),
        Key={"PK": {"S": f"{TENANT}#STARTUP#s0"}},
        UpdateExpression="ADD activities_count :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    # THEN each is found, with its kind
    assert drift_of(env, world) == {
        "cache": {ckey(KEY(0)): "missing", ckey(KEY(9)): "extra", ckey(KEY(1)): "stale", ckey(KEY(2)): "stale"},
        "search": {f"search:startups/{KEY(3)}": "missing", f"search:startups/{KEY(8)}": "extra"},
        "counters": {f"{TENANT}#STARTUP#s0": "stale"},
    }
    assert item is not None and item.values["activities_count"] == 2


def test_a_sample_reads_n_items_of_each_table_and_still_recounts_every_counter(env, world):
    # GIVEN every cache entry gone, the counters right
    world.cache._data.clear()
    checks = compare(env, ("cache", "counters"), VerifyOptions(sample=2, seed=3), sinks=world.sinks)
    by_name = {c.projection: c.result for c in checks}
    # THEN two startups and two activities were checked, each missing
    assert by_name["cache"].items_checked == 4 and len(by_name["cache"].drifts) == 4
    # AND the recount folded every item (a recount of a sample would find every counter wrong)
    assert by_name["counters"].items_checked == 9 and by_name["counters"].entries_checked == 2
    assert by_name["counters"].drifts == []


def test_repair_envelopes_outrank_exactly_the_drifted_entries(env, world):
    lookup = ItemLookup(env)
    table = env.table_name(STARTUPS)
    drift = lambda kind, n, order, tenant=TENANT: Drift(  # noqa: E731
        "cache", kind, f"k{n}", "", table, KEY(n), tenant, "startup", order
    )
    envelopes, refused = plan_envelopes(
        lookup,
        [
            drift("missing", 0, None),
            drift("stale", 1, order_of(1, "77")),  # an older version: (2, 0) outranks it as it is
            drift("stale", 2, order_of(2, "1234")),  # the same version: it needs sequence 1235
            drift("stale", 3, order_of(3, "1")),  # a newer version than the table's: not repaired
            drift("extra", 9, order_of(4, "10")),  # no item: a delete above (4, 10)
            drift("extra", 4, order_of(2, "50"), tenant="old-tenant"),  # the item moved tenants
        ],
    )
    by_key = {(e.key, e.tenant_id): e for e in envelopes}
    assert by_key[(KEY(0), TENANT)].event_type == "startup.snapshot"
    assert by_key[(KEY(1), TENANT)].source.sequence_number is None
    assert by_key[(KEY(2), TENANT)].order == order_of(2, "1235")
    assert (KEY(3), TENANT) not in by_key and refused == ["k3: stored at v3, newer than the table's v2: not repaired"]
    ghost = by_key[(KEY(9), TENANT)]
    assert ghost.event_type == "startup.deleted" and ghost.order == order_of(4, "11") and ghost.before is None
    assert by_key[(KEY(4), "old-tenant")].event_type == "startup.deleted"
    # AND the counters count none of them: snapshots are not changes, the deletes take nothing back
    assert all(deltas(e) == [] for e in envelopes)


def test_a_corrective_delta_fixes_a_double_count_and_yields_to_a_concurrent_change(env, world):
    item = world.counters.get(TENANT, "STARTUP#s0")
    assert item is not None
    doubled = CounterItem(TENANT, "STARTUP#s0", {**item.values, "activities_count": 3}, item.watermarks)
    fix = counter_fix(TENANT, "STARTUP#s0", {**item.values, "activities_count": 2}, doubled)
    assert fix.adds == {"activities_count": -1} and fix.stored == {"activities_count": 3}
    # WHEN the consumer moved the counter after it was read: the correction does not apply
    assert not apply_fix(env.dynamodb, COUNTERS_TABLE.physical_name("t"), fix)
    # WHEN it still holds what was read: it applies, and the watermarks are untouched
    env.dynamodb.update_item(
        TableName=COUNTERS_TABLE.physical_name("t"),
        Key={"PK": {"S": f"{TENANT}#STARTUP#s0"}},
        UpdateExpression="ADD activities_count :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    assert apply_fix(env.dynamodb, COUNTERS_TABLE.physical_name("t"), fix)
    after = world.counters.get(TENANT, "STARTUP#s0")
    assert after is not None and after.values["activities_count"] == 2 and after.watermarks == item.watermarks


def test_corrective_deltas_of_every_kind_of_counter():
    # A loan: a histogram bucket counted twice, a zero bucket missing, a stale target (latest)
    held = CounterItem(
        TENANT,
        "LOAN#l1",
        {histogram_attr("contributions", Decimal("250.5")): 2, "target_amount": 1000, "contributions_total": 501},
    )
    want = {"contributions": {Decimal("250.5"): 1, Decimal("99"): 1}, "target_amount": 3000}
    fix = counter_fix(TENANT, "LOAN#l1", want, held)
    assert fix.adds[histogram_attr("contributions", Decimal("250.5"))] == -1
    assert fix.adds[histogram_attr("contributions", Decimal("99"))] == 1
    assert fix.sets == {"target_amount": 3000}
    # A startup: a max behind the latest activity is raised, never lowered
    behind = CounterItem(TENANT, "STARTUP#s1", {"last_activity_at": "2026-01-01"})
    assert counter_fix(TENANT, "STARTUP#s1", {"last_activity_at": "2026-02-01"}, behind).sets == {
        "last_activity_at": "2026-02-01"
    }
    ahead = CounterItem(TENANT, "STARTUP#s1", {"last_activity_at": "2026-03-01"})
    assert counter_fix(TENANT, "STARTUP#s1", {"last_activity_at": "2026-02-01"}, ahead).sets == {}


def test_a_missing_counter_item_is_created_where_its_tenant_scan_finds_it(env, world):
    sink = world.counters
    fix = counter_fix(TENANT, "STARTUP#s7", {"activities_count": 4}, None)
    assert apply_fix(env.dynamodb, COUNTERS_TABLE.physical_name("t"), fix)
    assert [i.values["activities_count"] for i in sink.scan(TENANT) if i.parent_key == "STARTUP#s7"] == [4]
    assert not apply_fix(env.dynamodb, COUNTERS_TABLE.physical_name("t"), fix)  # it exists now


def test_a_dry_run_plans_and_changes_nothing(env, world):
    world.cache._data.clear()
    report = run_verify(env, ("cache",), VerifyOptions(dry_run=True), sinks=world.sinks)
    assert report.repair is not None and report.repair.dry_run and len(report.repair.envelopes) == 9
    assert report.repair.emitted == 0 and report.after is None and report.remaining == 9
    assert list(world.cache.scan_keys()) == []


def test_a_segmented_scan_reads_every_item_once_and_a_sample_reads_n(env):
    table = env.table_name(STARTUPS)
    for n in range(40):
        env.dynamodb.put_item(TableName=table, Item=serialize_item(make_stored_item("startup", n, TENANT)))
    keys = [i["PK"]["S"] for page in table_pages(env.dynamodb, table, segments=3) for i in page]
    assert sorted(keys) == sorted(f"STARTUP#s{n}" for n in range(40))
    [sample] = list(table_pages(env.dynamodb, table, sample=7, rng=random.Random(1)))
    assert len({i["PK"]["S"] for i in sample}) == 7


def test_a_reservoir_holds_n_of_a_stream_and_chunks_hold_one_list_at_a_time():
    rng = random.Random(5)
    assert sorted(reservoir(range(3), 5, rng)) == [0, 1, 2]
    drawn = reservoir(range(10_000), 50, rng)
    assert len(set(drawn)) == 50 and max(drawn) > 5_000  # not just the first ones
    assert [len(c) for c in chunks(range(250), 100)] == [100, 100, 50]
