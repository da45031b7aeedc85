"""The counters drift check: recount from table states, compare with a sink."""

from __future__ import annotations

from typing import Any

from consumers.projections.counters import CounterDelta, CounterEvent, coalesce, pad_sequence
from consumers.sinks.counters_memory import InMemoryCounterSink
from consumers.verify import Expected, Mismatch
from consumers.verify_counters import compare_counters, expected_counters

LATE, EARLY = "2026-03-01T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z"


def item(entity: str, n: int, tenant: str = "t1", **state: Any) -> Expected:
    return Expected(tenant, entity, f"{entity}#{n}", 1, {"tenant_id": tenant, **state})


TABLES = [
    item("activity", 1, startup_id="s1", aux_tokens_earned=10, aux_tokens_spent=4, timestamp=EARLY),
    item("activity", 2, startup_id="s1", aux_tokens_earned=5, timestamp=LATE, deleted_at=EARLY),
    item("document", 3, startup_id="s1"),
    item("event_registration", 4, event_id="e1", status="registered"),
    item("event_registration", 5, event_id="e1", status="cancelled"),
    item("user_session", 6, tenant="t2", user_id="u1"),
    item("startup", 7, startup_id="s1"),
]


def sink_holding(values: dict[tuple[str, str], dict[str, Any]]) -> InMemoryCounterSink:
    sink = InMemoryCounterSink()
    events = [
        CounterEvent("sh", pad_sequence(str(n)), f"e{n}", tuple(
            CounterDelta(tenant, parent, name, **({"max": v} if isinstance(v, str) else {"add": v}))
            for name, v in counters.items()))
        for n, ((tenant, parent), counters) in enumerate(values.items(), 1)
    ]
    sink.write(coalesce(events))
    return sink


RIGHT = {
    ("t1", "STARTUP#s1"): {"activities_count": 1, "aux_tokens_earned_total": 10, "aux_tokens_spent_total": 4,
                           "aux_token_balance": 6, "last_activity_at": LATE, "documents_count": 1},
    ("t1", "EVENT#e1"): {"registrations_count": 1},
    ("t2", "USER#u1"): {"sessions_count": 1},
}


def test_counters_are_recounted_from_live_items_and_the_latest_time_seen() -> None:
    # soft-deleted activity 2 is not counted, but its time was seen; cancelled registration is not counted
    assert expected_counters(TABLES) == RIGHT


def test_a_sink_holding_the_recount_has_no_mismatch() -> None:
    assert compare_counters(TABLES, sink_holding(RIGHT), ["t1", "t2"]) == []


def test_a_lost_or_doubled_event_is_a_mismatch_naming_item_and_counter() -> None:
    wrong = {**RIGHT, ("t1", "EVENT#e1"): {"registrations_count": 2}, ("t2", "USER#u1"): {}}
    assert compare_counters(TABLES, sink_holding(wrong), ["t1", "t2"]) == [
        Mismatch("t1#EVENT#e1", "registrations_count: stored 2, tables give 1"),
        Mismatch("t2#USER#u1", "sessions_count: stored 0, tables give 1"),
    ]


def test_a_counter_with_nothing_behind_it_must_be_zero() -> None:
    extra = {**RIGHT, ("t1", "PARTNER#p9"): {"activations_count": 1}, ("t1", "USER#u0"): {"sessions_count": 0}}
    assert compare_counters(TABLES, sink_holding(extra), ["t1", "t2"]) == [
        Mismatch("t1#PARTNER#p9", "activations_count: stored 1, tables give 0"),
    ]


def test_last_activity_may_be_later_than_the_tables_but_not_earlier() -> None:
    startup = RIGHT[("t1", "STARTUP#s1")]
    later = {**RIGHT, ("t1", "STARTUP#s1"): {**startup, "last_activity_at": "2026-09-01T00:00:00.000000Z"}}
    earlier = {**RIGHT, ("t1", "STARTUP#s1"): {**startup, "last_activity_at": EARLY}}
    assert compare_counters(TABLES, sink_holding(later), ["t1"]) == []
    assert compare_counters(TABLES, sink_holding(earlier), ["t1"]) == [
        Mismatch("t1#STARTUP#s1", f"last_activity_at: stored {EARLY}, but an item has {LATE}"),
    ]
