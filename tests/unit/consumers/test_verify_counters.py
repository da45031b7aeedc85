"""The counters drift check: recount from table states, compare with a sink."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from consumers.projections.counter_items import loan_summary
from consumers.projections.counters import CounterDelta, CounterEvent, coalesce, pad_sequence
from consumers.sinks.counters_memory import InMemoryCounterSink
from consumers.verify import Expected, Mismatch
from consumers.verify_counters import compare_counters, compare_loan_summaries, expected_counters

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
        CounterEvent(
            "sh",
            pad_sequence(str(n)),
            f"e{n}",
            tuple(
                CounterDelta(tenant, parent, name, **({"max": v} if isinstance(v, str) else {"add": v}))
                for name, v in counters.items()
            ),
        )
        for n, ((tenant, parent), counters) in enumerate(values.items(), 1)
    ]
    sink.write(coalesce(events))
    return sink


RIGHT = {
    ("t1", "STARTUP#s1"): {
        "activities_count": 1,
        "aux_tokens_earned_total": 10,
        "aux_tokens_spent_total": 4,
        "aux_token_balance": 6,
        "last_activity_at": LATE,
        "documents_count": 1,
    },
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


# -- loans: counted figures, buckets, target, and the figures computed when read ----------------------

LENDING = [
    item("loan", 10, loan_id="l1", amount=5000, title="Working capital"),
    item("loan_participant", 11, loan_id="l1", status="accepted", contribution_amount=2500.5),
    item("loan_participant", 12, loan_id="l1", status="accepted", contribution_amount=2500.5),
    item("loan_participant", 13, loan_id="l1", status="pending", contribution_amount=100),
    item("loan_participant", 14, loan_id="l1", status="accepted", contribution_amount=7, deleted_at=EARLY),
    item("loan_participant", 15, loan_id="l9", status="accepted", contribution_amount=1),  # its loan is gone
]
LOAN_RIGHT = {
    ("t1", "LOAN#l1"): {
        "participant_count": 3,
        "accepted_participant_count": 2,
        "pending_participant_count": 1,
        "total_funded": Decimal("5001"),
        "target_amount": 5000,
        "hist#contributions#2500_5": 2,
    },
    ("t1", "LOAN#l9"): {
        "participant_count": 1,
        "accepted_participant_count": 1,
        "total_funded": 1,
        "hist#contributions#1": 1,
    },
}


def loan_sink(values: dict[tuple[str, str], dict[str, Any]]) -> InMemoryCounterSink:
    """A sink holding these values (a ``target_amount`` is written as a latest value at version 1)."""
    events = [
        CounterEvent(
            "sh",
            pad_sequence(str(n)),
            f"e{n}",
            tuple(
                CounterDelta(
                    tenant, parent, name, **({"version": 1, "value": v} if name == "target_amount" else {"add": v})
                )
                for name, v in counters.items()
            ),
        )
        for n, ((tenant, parent), counters) in enumerate(values.items(), 1)
    ]
    sink = InMemoryCounterSink()
    sink.write(coalesce(events))
    return sink


def test_a_loans_counters_are_recounted_with_buckets_and_its_target() -> None:
    assert expected_counters(LENDING)[("t1", "LOAN#l1")] == {
        "participant_count": 3,
        "accepted_participant_count": 2,
        "pending_participant_count": 1,
        "total_funded": Decimal("5001.0"),
        "contributions": {Decimal("2500.5"): 2},
        "target_amount": 5000,
    }


def test_loans_holding_the_recount_have_no_mismatch_and_their_summary_is_the_reference() -> None:
    sink = loan_sink(LOAN_RIGHT)
    assert compare_counters(LENDING, sink, ["t1"]) == []
    assert compare_loan_summaries(LENDING, sink) == []
    # 5001 of 5000: fully funded at 100.02 %
    summary = loan_summary(sink.get("t1", "LOAN#l1"))
    assert (summary["is_fully_funded"], summary["funding_percentage"]) == (True, Decimal("100.02"))


def test_a_lost_withdrawal_shows_in_the_count_the_sum_and_the_bucket() -> None:
    # GIVEN the counters still holding a third accepted 2500.50 that was withdrawn
    stale = {
        **LOAN_RIGHT,
        ("t1", "LOAN#l1"): {
            **LOAN_RIGHT[("t1", "LOAN#l1")],
            "accepted_participant_count": 3,
            "total_funded": Decimal("7501.5"),
            "hist#contributions#2500_5": 3,
        },
    }
    mismatches = compare_counters(LENDING, loan_sink(stale), ["t1"])
    # THEN the counters name it, and the summary check stays quiet about the same item
    assert mismatches == [
        Mismatch("t1#LOAN#l1", "accepted_participant_count: stored 3, tables give 2"),
        Mismatch("t1#LOAN#l1", "total_funded: stored 7501.5, tables give 5001.0"),
        Mismatch("t1#LOAN#l1", "contributions: stored {2500.5: 3}, tables give {2500.5: 2}"),
    ]
    # AND on its own, the summary check sees the drift in the computed figures (the average,
    # 7501.5 / 3 against 5001 / 2, happens to be 2500.5 both ways)
    assert [m.reason.split(":")[0] for m in compare_loan_summaries(LENDING, loan_sink(stale))] == [
        "computed total_funded",
        "computed funding_percentage",
        "computed accepted_participant_count",
    ]


def test_a_stale_or_missing_target_is_a_mismatch() -> None:
    stale = {**LOAN_RIGHT, ("t1", "LOAN#l1"): {**LOAN_RIGHT[("t1", "LOAN#l1")], "target_amount": 4000}}
    assert compare_counters(LENDING, loan_sink(stale), ["t1"]) == [
        Mismatch("t1#LOAN#l1", "target_amount: stored 4000, tables give 5000"),
    ]
    # a target kept for a loan that no longer exists is drift too
    kept = {**LOAN_RIGHT, ("t1", "LOAN#l9"): {**LOAN_RIGHT[("t1", "LOAN#l9")], "target_amount": 10}}
    assert compare_counters(LENDING, loan_sink(kept), ["t1"]) == [
        Mismatch("t1#LOAN#l9", "target_amount: stored 10, tables give None"),
    ]
