"""The loan's funding figures in the counters projection (pure): rules, deltas, histogram
buckets, the loan's target as a latest-by-version counter, and the read-time summary."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.projections.counter_items import (
    CounterItem,
    computed_fields,
    histogram_attr,
    loan_summary,
    parse_histogram_attr,
)
from consumers.projections.counter_rules import (
    RULES,
    CounterRule,
    Kind,
    catalog_problems,
    contribution,
    counter_fields,
)
from consumers.projections.counters import CounterDelta, CounterEvent, coalesce, deltas, pad_sequence
from schemas import catalog
from schemas.entities.lending import LOAN_COMPUTED_FIELDS, funding_summary
from schemas.envelope import Envelope, Source, order_of, version_of_order
from schemas.errors import PoisonRecordError

_ids = itertools.count()
LOAN = "LOAN#l1"


def change(
    entity: str, action: str, before: dict | None, after: dict | None, *, version: int = 1, tenant: str = "t1"
) -> Envelope:
    return Envelope(
        event_id=f"ev-{next(_ids)}",
        event_type=f"{entity}.{action}",
        tenant_id=tenant,
        entity=entity,
        key=f"{entity}-key",
        version=version,
        source=Source(table="auxeira-test"),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        before=before,
        after=after,
    )


def participant(status: str = "accepted", amount: float = 2500.5, **more: Any) -> dict[str, Any]:
    return {
        "tenant_id": "t1",
        "loan_id": "l1",
        "participant_id": "p1",
        "lender_email": "a@b.co",
        "status": status,
        "contribution_amount": amount,
        **more,
    }


def loan(amount: float = 10000, **more: Any) -> dict[str, Any]:
    return {"tenant_id": "t1", "loan_id": "l1", "startup_id": "s1", "amount": amount, **more}


def net(found: list[CounterDelta]) -> dict[str, Any]:
    """counter -> add, or (version, value) for a latest counter (one parent in these tests)."""
    return {d.counter: (d.add if d.version is None else (d.version, d.value)) for d in found}


# -- rules -------------------------------------------------------------------------------------


def test_the_loan_keeps_its_counted_figures_and_its_target() -> None:
    assert counter_fields("loan") == {
        "participant_count": Kind.COUNT,
        "accepted_participant_count": Kind.COUNT,
        "pending_participant_count": Kind.COUNT,
        "total_funded": Kind.SUM,
        "contributions": Kind.HISTOGRAM,
        "target_amount": Kind.LATEST,
    }
    # AND the ratios and extremes are not stored anywhere
    stored = {r.counter for r in RULES}
    assert stored.isdisjoint(
        {
            "funding_percentage",
            "is_fully_funded",
            "average_contribution",
            "largest_contribution",
            "smallest_contribution",
        }
    )


def test_a_rule_of_an_entity_on_itself_must_follow_its_own_key() -> None:
    # GIVEN the loan's target kept on its own counter item, and a rule on an attribute outside its key
    good = CounterRule("loan", "loan_id", "loan", "target_amount", Kind.LATEST, "amount")
    bad = CounterRule("loan", "startup_id", "loan", "target_amount", Kind.LATEST, "amount")
    # THEN only the second is reported
    assert catalog_problems((good,), catalog.ENTITIES) == []
    assert catalog_problems((bad,), catalog.ENTITIES) == ["target_amount: loan.startup_id is not in its own key"]


def test_a_participant_without_a_status_counts_as_pending_as_the_model_defaults() -> None:
    rule = next(r for r in RULES if r.counter == "pending_participant_count")
    state = {k: v for k, v in participant().items() if k != "status"}
    assert contribution(rule, state, "t1") == ("t1", LOAN, 1)


# -- participant deltas --------------------------------------------------------------------------


def test_an_accepted_participant_counts_funds_and_fills_its_amounts_bucket() -> None:
    found = net(deltas(change("loan_participant", "created", None, participant())))
    assert found == {
        "participant_count": 1,
        "accepted_participant_count": 1,
        "total_funded": Decimal("2500.5"),
        "hist#contributions#2500_5": 1,
    }


def test_a_pending_invitation_counts_but_does_not_fund() -> None:
    found = net(deltas(change("loan_participant", "created", None, participant("pending"))))
    assert found == {"participant_count": 1, "pending_participant_count": 1}


def test_accepting_moves_the_participant_from_pending_to_funding() -> None:
    found = net(deltas(change("loan_participant", "updated", participant("pending"), participant("accepted"))))
    assert found == {
        "pending_participant_count": -1,
        "accepted_participant_count": 1,
        "total_funded": Decimal("2500.5"),
        "hist#contributions#2500_5": 1,
    }


@pytest.mark.parametrize(
    "action, after",
    [
        ("updated", participant("withdrawn")),
        ("soft_deleted", participant(deleted_at="2026-01-03T00:00:00Z")),
        ("deleted", None),
    ],
)
def test_withdrawing_or_deleting_takes_the_contribution_and_its_bucket_back(action: str, after: dict | None) -> None:
    found = net(deltas(change("loan_participant", action, participant(), after)))
    assert found["accepted_participant_count"] == -1
    assert found["total_funded"] == Decimal("-2500.5")
    assert found["hist#contributions#2500_5"] == -1
    # a withdrawn participant is still a participant; a removed one is not
    assert found.get("participant_count", 0) == (0 if action == "updated" else -1)


def test_changing_an_accepted_amount_moves_it_between_buckets() -> None:
    found = net(deltas(change("loan_participant", "updated", participant(amount=1000), participant(amount=2500.5))))
    assert found == {"total_funded": Decimal("1500.5"), "hist#contributions#1000": -1, "hist#contributions#2500_5": 1}


def test_an_unchanged_amount_written_differently_stays_in_its_bucket() -> None:
    # GIVEN the same amount as an int and as a float with a zero fraction
    found = deltas(change("loan_participant", "updated", participant(amount=1000), participant(amount=1000.0)))
    # THEN no delta at all: same total, same bucket
    assert found == []


# -- histogram buckets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, name",
    [
        (Decimal("2500.50"), "hist#contributions#2500_5"),
        (Decimal("2500.5"), "hist#contributions#2500_5"),
        (Decimal("25005E-1"), "hist#contributions#2500_5"),
        (1000, "hist#contributions#1000"),
        (Decimal("1E+3"), "hist#contributions#1000"),
        (Decimal("1000.00"), "hist#contributions#1000"),
        (Decimal("0.01"), "hist#contributions#0_01"),
        (Decimal("-3.50"), "hist#contributions#m3_5"),
        (Decimal("-0.00"), "hist#contributions#0"),
    ],
)
def test_equal_amounts_share_one_bucket_with_a_name_of_safe_characters(value: Any, name: str) -> None:
    assert histogram_attr("contributions", value) == name
    assert parse_histogram_attr(name) == ("contributions", Decimal(value))


@given(
    st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2, allow_nan=False, allow_infinity=False)
)
def test_a_bucket_name_reads_back_as_its_value(value: Decimal) -> None:
    name = histogram_attr("contributions", value)
    assert set(name.rpartition("#")[2]) <= set("0123456789_m")
    assert parse_histogram_attr(name) == ("contributions", value)


@pytest.mark.parametrize(
    "name",
    ["total_funded", "hist#", "hist#contributions", "hist#contributions#x1", "ver#target_amount", "wm#shardId-0"],
)
def test_other_attributes_are_not_buckets(name: str) -> None:
    assert parse_histogram_attr(name) is None


# -- the loan's target: latest by version ------------------------------------------------------------


def test_a_created_loan_sets_its_target_at_its_version() -> None:
    event = change("loan", "created", None, loan(10000.5))
    assert net(deltas(event)) == {"target_amount": (event.order, Decimal("10000.5"))}
    assert version_of_order(event.order) == 1


def test_a_new_amount_is_sent_with_the_new_version() -> None:
    event = change("loan", "updated", loan(10000), loan(12000), version=4)
    assert net(deltas(event)) == {"target_amount": (order_of(4, None), 12000)}


@pytest.mark.parametrize(
    "action, after",
    [
        ("updated", loan(10000, title="renamed", status="open")),
        ("soft_deleted", loan(10000, deleted_at="2026-01-03T00:00:00Z")),  # a soft-deleted loan keeps its target
    ],
)
def test_a_change_that_keeps_the_amount_sends_nothing(action: str, after: dict) -> None:
    assert deltas(change("loan", action, loan(10000), after, version=3)) == []


def test_deleting_the_loan_clears_its_target_at_the_tombstones_version() -> None:
    event = change("loan", "deleted", loan(10000), None, version=5)
    assert net(deltas(event)) == {"target_amount": (order_of(5, None), None)}


def test_a_loan_moved_to_another_tenant_takes_its_target_along() -> None:
    found = deltas(change("loan", "updated", loan(), loan(tenant_id="t2"), version=2, tenant="t2"))
    at = order_of(2, None)
    assert {(d.tenant, d.version, d.value) for d in found} == {("t2", at, 10000), ("t1", at, None)}


def test_a_batch_keeps_the_newest_version_of_the_target_whatever_the_record_order() -> None:
    # GIVEN version 7 delivered before version 6 within one batch
    events = [
        CounterEvent(
            "sh",
            pad_sequence(str(seq)),
            f"e{seq}",
            (CounterDelta("t1", LOAN, "target_amount", version=version, value=value),),
        )
        for seq, version, value in ((1, 7, 900), (2, 6, 500))
    ]
    [update] = coalesce(events)
    assert update.latest() == {"target_amount": (7, 900)}
    # AND each record keeps its own part, so a resume after record 1 still carries version 6 only
    assert update.after(pad_sequence("1")).latest() == {"target_amount": (6, 500)}


# -- computed when read --------------------------------------------------------------------------------


def item(**values: Any) -> CounterItem:
    return CounterItem("t1", LOAN, values)


def test_the_summary_is_the_reference_calculation_over_the_stored_figures() -> None:
    # GIVEN the counters of the reference example of schemas.entities.lending
    participants = [
        {"status": "accepted", "contribution_amount": 2500.5},
        {"status": "accepted", "contribution_amount": 1000},
        {"status": "pending", "contribution_amount": 9000},
        {"status": "declined", "contribution_amount": 50},
    ]
    stored = item(
        participant_count=4,
        accepted_participant_count=2,
        pending_participant_count=1,
        total_funded=Decimal("3500.5"),
        target_amount=10000,
        **{"ver#target_amount": 3},
        **{"hist#contributions#2500_5": 1, "hist#contributions#1000": 1, "hist#contributions#7000": 0},
    )
    # THEN the summary equals funding_summary, the emptied 7000 bucket playing no part
    assert loan_summary(stored) == funding_summary(10000, participants)
    assert list(loan_summary(stored)) == list(LOAN_COMPUTED_FIELDS)


def test_ratios_round_half_up_to_cents() -> None:
    # 1 of 800 funded is 0.125 % -> 0.13 (banker's rounding would give 0.12)
    assert loan_summary(item(total_funded=1, target_amount=800))["funding_percentage"] == Decimal("0.13")
    # 0.01 over two lenders averages 0.005 -> 0.01; 0.01 of 3 is 0.333.. % -> 0.33
    summary = loan_summary(item(total_funded=Decimal("0.01"), accepted_participant_count=2, target_amount=3))
    assert (summary["average_contribution"], summary["funding_percentage"]) == (Decimal("0.01"), Decimal("0.33"))
    reference = funding_summary(800, [{"status": "accepted", "contribution_amount": 1}])
    assert reference["funding_percentage"] == Decimal("0.13")


def test_fully_funded_at_exactly_the_target() -> None:
    target = Decimal("100.1")
    assert loan_summary(item(total_funded=Decimal("100.1"), target_amount=target))["is_fully_funded"] is True
    assert loan_summary(item(total_funded=Decimal("100.09"), target_amount=target))["is_fully_funded"] is False


def test_without_a_known_target_the_ratios_are_unknown_but_the_counts_stand() -> None:
    # GIVEN participants counted before their loan's own event arrived (or after it was deleted)
    summary = loan_summary(
        item(participant_count=1, accepted_participant_count=1, total_funded=50, **{"hist#contributions#50": 1})
    )
    assert (summary["funding_percentage"], summary["is_fully_funded"]) == (None, None)
    assert (summary["total_funded"], summary["largest_contribution"], summary["average_contribution"]) == (50, 50, 50)


def test_a_loan_with_no_counter_item_has_nothing_funded() -> None:
    assert loan_summary(None) == {**funding_summary(1, []), "funding_percentage": None, "is_fully_funded": None}


def test_only_loans_have_computed_fields() -> None:
    assert computed_fields(CounterItem("t1", "STARTUP#s1", {"activities_count": 3})) is None
    assert computed_fields(item(target_amount=10))["funding_percentage"] == 0


@pytest.mark.parametrize(
    "event, why",
    [
        (change("loan", "created", None, loan(amount={"value": 1})), "loan.amount"),
        (
            change("loan_participant", "created", None, participant(amount="lots")),
            "loan_participant.contribution_amount",
        ),
        (change("loan_participant", "created", None, participant(amount=float("nan"))), "contribution_amount"),
    ],
)
def test_amounts_that_are_not_numbers_are_poison(event: Envelope, why: str) -> None:
    with pytest.raises(PoisonRecordError, match=why):
        deltas(event)
