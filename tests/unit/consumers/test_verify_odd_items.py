"""The drift checks report odd items as findings and never crash on them; published states in
the cache are not drift."""

from __future__ import annotations

from consumers.projections import cache
from consumers.sinks.counters_memory import InMemoryCounterSink
from consumers.sinks.memory import InMemoryCacheSink
from consumers.verify import Mismatch, compare_cache, expected_states
from consumers.verify_counters import compare_counters
from schemas import catalog
from schemas.wire.dynamodb import serialize_item
from tests.factories import make_stored_item
from tests.kinesis_records import envelope


def test_an_item_without_a_tenant_is_a_finding_not_a_crash() -> None:
    orphan = {k: v for k, v in make_stored_item("startup", 1).items() if k != "tenant_id"}
    good = make_stored_item("startup", 2)
    findings: list[Mismatch] = []
    states = list(
        expected_states(catalog.table("startups"), [serialize_item(orphan), serialize_item(good)], findings=findings)
    )
    assert [s.key for s in states] == ["STARTUP#s2|PROFILE"]
    [finding] = findings
    assert "tenant attribute 'tenant_id' is missing" in finding.reason


def test_a_counted_field_of_the_wrong_type_is_a_finding_not_a_crash() -> None:
    bad = {**make_stored_item("activity", 1), "aux_tokens_earned": "ten"}
    expected = list(expected_states(catalog.table("activities"), [serialize_item(bad)]))
    mismatches = compare_counters(expected, InMemoryCounterSink(), [bad["tenant_id"]])
    assert any("aux_tokens_earned" in m.reason and "not countable" in m.reason for m in mismatches)


def test_a_cached_published_state_is_not_reported_as_drift() -> None:
    sink = InMemoryCacheSink()
    sink.apply(cache.project(envelope("STARTUP#s1", 5, "recorded", entity="stripe_mrr_sync")))
    assert compare_cache([], sink, ["t1"]) == []
    # while a table entity cached with nothing behind it is
    sink.apply(cache.project(envelope("STARTUP#s9|PROFILE", 1)))
    [mismatch] = compare_cache([], sink, ["t1"])
    assert mismatch.reason == "cached but not in any table"
