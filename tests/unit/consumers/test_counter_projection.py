"""The counters projection (pure): rules, deltas per envelope, and coalescing into updates."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from consumers.projections import counters
from consumers.projections.counter_rules import RULES, CounterRule, FieldIn, Kind, catalog_problems, parent_key
from consumers.projections.counters import CounterDelta, CounterEvent, coalesce, deltas, pad_sequence, plan
from schemas import catalog
from schemas.envelope import Envelope, Source
from schemas.errors import PoisonRecordError

_ids = itertools.count()
T0 = "2026-01-02T03:04:05.000000Z"


def change(
    entity: str,
    action: str,
    before: dict | None,
    after: dict | None,
    *,
    tenant: str = "t1",
    event_id: str | None = None,
) -> Envelope:
    return Envelope(
        event_id=event_id or f"ev-{next(_ids)}",
        event_type=f"{entity}.{action}",
        tenant_id=tenant,
        entity=entity,
        key=f"{entity}-key",
        version=1,
        source=Source(table="auxeira-test"),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        before=before,
        after=after,
    )


def activity(startup: str = "s1", earned: int = 10, spent: int = 3, at: str = T0, **more: Any) -> dict:
    return {
        "tenant_id": "t1",
        "activity_id": "a1",
        "startup_id": startup,
        "user_id": "u1",
        "timestamp": at,
        "aux_tokens_earned": earned,
        "aux_tokens_spent": spent,
        **more,
    }


def net(found: list[CounterDelta]) -> dict[tuple[str, str], Any]:
    """(parent key, counter) -> add or max, for compact assertions."""
    return {(d.parent_key, d.counter): (d.add if d.max is None else d.max) for d in found}


# -- rules ---------------------------------------------------------------------------------


def test_every_rule_follows_a_parent_link_of_the_catalog() -> None:
    assert catalog_problems(RULES, catalog.ENTITIES) == []


def test_a_rule_on_an_attribute_the_catalog_does_not_link_is_reported() -> None:
    # GIVEN a rule counting documents under users, which the catalog does not link
    bad = CounterRule("document", "user_id", "user", "documents_count")
    # THEN the check names it
    assert catalog_problems((bad,), catalog.ENTITIES) == [
        "documents_count: document.user_id is not a parent link to 'user' in the catalog"
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": Kind.SUM},  # a sum needs a field
        {"kind": Kind.COUNT, "field": "x"},  # a count has none
        {"kind": Kind.MAX, "field": "timestamp", "sign": -1},  # only sums subtract
    ],
)
def test_inconsistent_rules_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CounterRule("activity", "startup_id", "startup", "c", **kwargs)


def test_parent_key_is_the_parents_partition_key() -> None:
    assert parent_key("startup", "s1") == "STARTUP#s1" == catalog.entity("startup").pk.format(startup_id="s1")


# -- deltas per action ------------------------------------------------------------------------


def test_a_created_activity_counts_its_tokens_and_time_for_its_startup() -> None:
    found = net(deltas(change("activity", "created", None, activity(at="2026-01-02T05:04:05+02:00"))))
    assert found == {
        ("STARTUP#s1", "activities_count"): 1,
        ("STARTUP#s1", "aux_tokens_earned_total"): 10,
        ("STARTUP#s1", "aux_tokens_spent_total"): 3,
        ("STARTUP#s1", "aux_token_balance"): 7,
        # normalised to UTC with microseconds, so string order is time order
        ("STARTUP#s1", "last_activity_at"): T0,
    }


def test_an_update_adds_only_the_difference_of_summed_fields() -> None:
    found = net(deltas(change("activity", "updated", activity(earned=10), activity(earned=25))))
    assert found == {("STARTUP#s1", "aux_tokens_earned_total"): 15, ("STARTUP#s1", "aux_token_balance"): 15}


def test_an_update_of_uncounted_fields_changes_nothing() -> None:
    # WHEN only a description changes THEN no delta (and so no write) at all
    event = change("activity", "updated", activity(), activity(activity_description="new text"))
    assert deltas(event) == []


def test_a_later_timestamp_raises_last_activity_but_an_unchanged_one_is_not_resent() -> None:
    later = "2026-02-01T00:00:00.000000Z"
    assert net(deltas(change("activity", "updated", activity(), activity(at=later)))) == {
        ("STARTUP#s1", "last_activity_at"): later
    }


@pytest.mark.parametrize("action", ["deleted", "expired"])
def test_a_removal_takes_back_the_contribution_but_not_the_time_seen(action: str) -> None:
    found = net(deltas(change("activity", action, activity(), None)))
    assert found == {
        ("STARTUP#s1", "activities_count"): -1,
        ("STARTUP#s1", "aux_tokens_earned_total"): -10,
        ("STARTUP#s1", "aux_tokens_spent_total"): -3,
        ("STARTUP#s1", "aux_token_balance"): -7,
    }


def test_a_soft_delete_takes_back_the_contribution_and_a_restore_gives_it_again() -> None:
    live, gone = activity(), activity(deleted_at="2026-01-03T00:00:00Z")
    taken = net(deltas(change("activity", "soft_deleted", live, gone)))
    given = net(deltas(change("activity", "updated", gone, live)))
    assert taken[("STARTUP#s1", "activities_count")] == -1
    assert given[("STARTUP#s1", "activities_count")] == 1
    assert {k: -v for k, v in taken.items()} == given


def test_a_hard_delete_after_a_soft_delete_changes_nothing_more() -> None:
    gone = activity(deleted_at="2026-01-03T00:00:00Z")
    assert deltas(change("activity", "deleted", gone, None)) == []


def test_an_expired_session_leaves_its_users_sessions_count() -> None:
    session = {"tenant_id": "t1", "user_id": "u7", "session_id": "x", "started_at": T0}
    assert net(deltas(change("user_session", "expired", session, None))) == {("USER#u7", "sessions_count"): -1}


def test_moving_an_item_to_another_parent_moves_its_contribution() -> None:
    found = net(deltas(change("activity", "updated", activity(startup="s1"), activity(startup="s2"))))
    assert found[("STARTUP#s1", "activities_count")] == -1
    assert found[("STARTUP#s2", "activities_count")] == 1
    assert found[("STARTUP#s1", "aux_token_balance")] == -7
    assert found[("STARTUP#s2", "aux_token_balance")] == 7
    # the new parent has not seen this activity's time; the old one keeps it
    assert found[("STARTUP#s2", "last_activity_at")] == T0
    assert ("STARTUP#s1", "last_activity_at") not in found


def test_moving_an_item_to_another_tenant_leaves_the_old_tenants_counters() -> None:
    doc = {"tenant_id": "t1", "startup_id": "s1", "document_id": "d1"}
    found = deltas(change("document", "updated", doc, {**doc, "tenant_id": "t2"}, tenant="t2"))
    assert {(d.tenant, d.add) for d in found} == {("t1", -1), ("t2", 1)}


def test_cancelling_a_registration_takes_it_out_of_the_events_count() -> None:
    rule = next(r for r in RULES if r.counter == "registrations_count")
    assert rule.where == FieldIn("status", frozenset({"cancelled"}), negate=True)
    reg = {"tenant_id": "t1", "event_id": "e1", "user_id": "u1", "status": "registered"}
    found = net(deltas(change("event_registration", "updated", reg, {**reg, "status": "cancelled"})))
    assert found == {("EVENT#e1", "registrations_count"): -1}


def test_entities_without_rules_have_no_deltas() -> None:
    assert deltas(change("startup", "created", None, {"tenant_id": "t1", "startup_id": "s1"})) == []


def test_fractional_sums_stay_exact_decimals() -> None:
    rule = CounterRule("activity", "startup_id", "startup", "value_total", Kind.SUM, "activity_value")
    found = deltas(change("activity", "created", None, activity(activity_value=0.1)), rules=(rule,))
    assert found == [CounterDelta("t1", "STARTUP#s1", "value_total", add=Decimal("0.1"))]


def test_an_action_the_counters_do_not_know_or_a_snapshot_counts_nothing() -> None:
    # A newer producer's action is skipped, not poison; a backfill snapshot is not a change.
    assert deltas(change("activity", "exploded", None, activity())) == []
    assert deltas(change("activity", "snapshot", None, activity())) == []


@pytest.mark.parametrize(
    "event, why",
    [
        (change("activity", "created", None, None), "no after image"),
        (change("activity", "created", None, activity(earned="ten")), "activity.aux_tokens_earned"),
        (change("activity", "created", None, activity(earned=True)), "activity.aux_tokens_earned"),
        (change("activity", "created", None, activity(at="yesterday")), "activity.timestamp"),
    ],
)
def test_uncountable_events_are_poison_naming_the_event(event: Envelope, why: str) -> None:
    with pytest.raises(PoisonRecordError, match=why) as caught:
        deltas(event)
    assert event.event_id in str(caught.value)


# -- coalescing ------------------------------------------------------------------------------


def batch(*envelopes: Envelope, shard: str = "shardId-000000000000", start: int = 1):
    return [(shard, str(seq), e) for seq, e in enumerate(envelopes, start)]


def test_a_batch_on_one_startup_becomes_one_update_with_the_net_change() -> None:
    # GIVEN 50 creates, 10 deletes and 40 description-only updates for startup s1
    creates = [change("activity", "created", None, activity(at=f"2026-01-02T03:04:{n:02d}Z")) for n in range(50)]
    deletes = [change("activity", "deleted", activity(), None) for _ in range(10)]
    noise = [change("activity", "updated", activity(), activity(activity_description="x")) for _ in range(40)]
    # WHEN planned
    [update] = plan(batch(*creates, *deletes, *noise))
    # THEN one write carries the net counts, the latest time, and the batch's last position
    assert update.key == "t1#STARTUP#s1"
    assert update.adds() == {
        "activities_count": 40,
        "aux_tokens_earned_total": 400,
        "aux_tokens_spent_total": 120,
        "aux_token_balance": 280,
    }
    assert update.maxes() == {"last_activity_at": "2026-01-02T03:04:49.000000Z"}
    assert update.watermark == pad_sequence("100")
    assert [p.sequence for p in update.parts] == [pad_sequence(str(n)) for n in range(1, 61)]


def test_one_update_per_counter_item_and_shard() -> None:
    events = [change("activity", "created", None, activity(startup=f"s{n % 3}")) for n in range(30)]
    sessions = [change("user_session", "created", None, {"tenant_id": "t1", "user_id": "u1"}) for _ in range(5)]
    elsewhere = [change("activity", "created", None, activity(startup=f"s{n}")) for n in range(3)]
    updates = plan(batch(*events, *sessions) + batch(*elsewhere, shard="shardId-000000000001"))
    assert sorted((u.key, u.shard[-1]) for u in updates) == [
        ("t1#STARTUP#s0", "0"),
        ("t1#STARTUP#s0", "1"),
        ("t1#STARTUP#s1", "0"),
        ("t1#STARTUP#s1", "1"),
        ("t1#STARTUP#s2", "0"),
        ("t1#STARTUP#s2", "1"),
        ("t1#USER#u1", "0"),
    ]


def test_an_event_put_twice_by_the_router_counts_once_within_a_batch() -> None:
    # GIVEN the same change (same event id) at two stream positions
    twin = change("activity", "created", None, activity(), event_id="same")
    [update] = plan(batch(twin, twin))
    # THEN it counts once, at its first position, and the watermark still covers both
    assert update.adds()["activities_count"] == 1
    assert [p.sequence for p in update.parts] == [pad_sequence("1")]
    assert update.watermark == pad_sequence("2")


def test_the_watermark_covers_records_that_count_nothing() -> None:
    counted = change("activity", "created", None, activity())
    other = change("startup", "updated", {"tenant_id": "t1"}, {"tenant_id": "t1"})
    [update] = plan(batch(counted, other, other))
    assert update.watermark == pad_sequence("3")


def test_sequence_numbers_order_numerically_once_padded() -> None:
    assert pad_sequence("9") < pad_sequence("10") < pad_sequence("4" + "0" * 56)
    with pytest.raises(PoisonRecordError):
        pad_sequence("12a")


def test_after_a_stored_watermark_only_the_unwritten_parts_remain() -> None:
    events = [
        CounterEvent(
            "sh", pad_sequence(str(n)), f"e{n}", (CounterDelta("t1", "STARTUP#s1", "activities_count", add=1),)
        )
        for n in (3, 5, 8)
    ]
    [update] = coalesce(events)
    assert update.after(None) is update
    assert update.after(pad_sequence("2")) is update
    assert [p.sequence for p in update.after(pad_sequence("5")).parts] == [pad_sequence("8")]
    assert update.after(pad_sequence("5")).adds() == {"activities_count": 1}
    assert update.after(pad_sequence("8")) is None
    assert update.after(pad_sequence("99")) is None


def test_plan_surfaces_poison_like_deltas() -> None:
    with pytest.raises(PoisonRecordError):
        plan(batch(change("activity", "created", None, activity(earned="x"))))


def test_module_exports_what_it_defines() -> None:
    assert all(hasattr(counters, name) for name in counters.__all__)


def test_an_update_is_cut_between_records_into_pieces_with_their_own_watermarks() -> None:
    # GIVEN records 1..5 adding to counters a, b, c, b, d, and record 6 counting nothing
    names = ["a", "b", "c", "b", "d"]
    events = [
        CounterEvent("sh", pad_sequence(str(n)), f"e{n}", (CounterDelta("t1", "LOAN#l1", name, add=1),))
        for n, name in enumerate(names, 1)
    ] + [CounterEvent("sh", pad_sequence("6"), "e6", ())]
    [update] = coalesce(events)
    # WHEN cut to at most two distinct ADDs per piece
    pieces = update.chunks(2)
    # THEN the pieces hold records {1,2}, {3,4}, {5}, each watermarked at its last record but the last
    assert [[p.sequence[-1] for p in piece.parts] for piece in pieces] == [["1", "2"], ["3", "4"], ["5"]]
    assert [piece.watermark for piece in pieces] == [pad_sequence("2"), pad_sequence("4"), pad_sequence("6")]
    # AND nothing is lost or doubled, and an update that fits is not cut
    assert [piece.adds() for piece in pieces] == [{"a": 1, "b": 1}, {"c": 1, "b": 1}, {"d": 1}]
    assert update.chunks(4) == [update]
