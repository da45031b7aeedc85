"""Published event models and their registry: rejection before sending, envelopes, staleness."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import ClassVar

import pytest

from auxeira.runtime.bus import envelopes_of
from auxeira.runtime.sinks import APPLIED, STALE
from consumers.projections import cache
from consumers.sinks.memory import InMemoryCacheSink
from schemas.envelope import encode
from schemas.errors import EntityValidationError
from schemas.events import (
    REGISTRY,
    ChatbotTurn,
    EventRegistry,
    EventValidationError,
    GamificationAction,
    PageView,
    PublishedEvent,
    QuickBooksSync,
    StripeMrrSync,
    UnknownEventTypeError,
    to_envelope,
)
from schemas.wire.json_values import from_json

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def stripe(sync_id: str, mrr: float, at: datetime = T0, **extra) -> StripeMrrSync:
    return StripeMrrSync(
        sync_id=sync_id,
        tenant_id="t1",
        startup_id="s1",
        stripe_account_id="acct_1",
        mrr=mrr,
        arr=12 * mrr,
        active_subscriptions=40,
        total_customers=38,
        occurred_at=at,
        **extra,
    )


def samples() -> list[PublishedEvent]:
    """One valid event of every registered model."""
    return [
        PageView(
            view_id="v1",
            tenant_id="t1",
            user_id="u1",
            path="/dashboard/founder",
            dashboard="startup_founder",
            duration_ms=5400,
            occurred_at=T0,
        ),
        REGISTRY.parse(
            "feature_use",
            {
                "usage_id": "f1",
                "tenant_id": "t1",
                "user_id": "u1",
                "feature": "sse_calculator",
                "action": "completed",
                "occurred_at": "2026-03-01T09:30:00Z",
            },
        ),
        ChatbotTurn(
            conversation_id="c1",
            message_id="m1",
            tenant_id="t1",
            startup_id="s1",
            user_id="u1",
            message_sender="user",
            message_text="Our MRR grew 15% this month!",
            message_intent="metric_update",
            message_entities={"metric_type": "mrr", "growth_percentage": 0.15},
            message_sentiment="positive",
            sentiment_score=0.8,
            aux_tokens_awarded=25,
            occurred_at=T0,
        ),
        stripe("sync-1", 31_681.42),
        QuickBooksSync(
            sync_id="qb-1",
            tenant_id="t1",
            startup_id="s1",
            realm_id="r1",
            period_start=date(2026, 2, 1),
            period_end=date(2026, 2, 28),
            revenue=40_000,
            expenses=55_000,
            net_income=-15_000,
            cash_balance=450_000,
            burn_rate=15_000,
            runway_months=30,
            occurred_at=T0,
        ),
        GamificationAction(
            action_id="a1",
            tenant_id="t1",
            user_id="u1",
            action_type="metric_update",
            base_tokens=50,
            multiplier=1.5,
            streak_days=6,
            aux_tokens_awarded=75,
            occurred_at=T0,
        ),
    ]


# --- rejection -----------------------------------------------------------------------


def test_an_unknown_event_type_is_rejected_naming_it_and_the_registered_ones():
    # WHEN a payload names a type nobody registered THEN the error names it
    with pytest.raises(UnknownEventTypeError) as caught:
        REGISTRY.coerce({"event_type": "page_click.recorded", "click_id": "x"})
    assert "'page_click.recorded'" in str(caught.value)
    assert "page_view.recorded" in str(caught.value)
    # and a table entity's type is not a published event either
    with pytest.raises(UnknownEventTypeError):
        REGISTRY.model_for("startup.recorded")


def test_an_invalid_payload_is_rejected_naming_the_event_type_and_every_field():
    # GIVEN a page view with a relative path, a negative duration and no user
    payload = {
        "event_type": "page_view.recorded",
        "view_id": "v1",
        "tenant_id": "t1",
        "path": "dashboard",
        "duration_ms": -1,
        "occurred_at": "2026-03-01T09:30:00Z",
    }
    with pytest.raises(EventValidationError) as caught:
        REGISTRY.coerce(payload)
    # THEN the error names the type and each bad field, and is an EntityValidationError
    error = caught.value
    assert isinstance(error, EntityValidationError)
    assert error.event_type == "page_view.recorded"
    assert set(error.fields) == {"user_id", "path", "duration_ms"}
    assert str(error).startswith("invalid page_view.recorded event: ")


@pytest.mark.parametrize(
    ("event_type", "change", "field"),
    [
        ("stripe_mrr_sync", {"arr": 1.0}, "arr"),
        ("quickbooks_sync", {"net_income": 0.0}, "net_income"),
        ("quickbooks_sync", {"runway_months": 3.0}, "runway_months"),
        ("quickbooks_sync", {"period_end": "2026-01-01"}, "period_end"),
        ("gamification_action", {"aux_tokens_awarded": 50}, "aux_tokens_awarded"),
        ("chatbot_turn", {"message_sentiment": "ecstatic"}, "message_sentiment"),
        ("page_view", {"occurred_at": "2026-03-01T09:30:00"}, "occurred_at"),  # naive time
        ("page_view", {"occurred_at": "1969-12-31T23:59:59Z"}, "occurred_at"),  # negative version
        ("page_view", {"ip_address": "10.0.0.1"}, "ip_address"),  # unknown attribute
    ],
)
def test_cross_field_and_format_rules_name_the_offending_field(event_type, change, field):
    # GIVEN a valid event's payload with one rule broken
    valid = next(e for e in samples() if e.entity == event_type)
    payload = {**valid.model_dump(mode="json"), **change}
    # WHEN parsed THEN exactly that field is reported
    with pytest.raises(EventValidationError) as caught:
        REGISTRY.parse(event_type, payload)
    assert caught.value.fields == [field]
    assert event_type in str(caught.value)


def test_a_mapping_without_an_event_type_is_rejected_naming_the_field():
    with pytest.raises(EventValidationError) as caught:
        REGISTRY.coerce({"view_id": "v1"})
    assert caught.value.fields == ["event_type"]


# --- registration --------------------------------------------------------------------


class Ping(PublishedEvent):
    entity: ClassVar[str] = "ping"
    key_fields: ClassVar[tuple[str, ...]] = ("k",)
    id_fields: ClassVar[tuple[str, ...]] = ("n",)
    version_field: ClassVar[str] = "sequence"
    tenant_id: str
    k: str
    n: int
    sequence: int


def test_register_checks_the_model_before_accepting_it():
    registry = EventRegistry()
    assert registry.register(Ping) is Ping
    assert registry.register(Ping) is Ping  # idempotent for the same class

    class OtherPing(Ping):
        pass

    class TableClash(Ping):
        entity: ClassVar[str] = "startup"

    class BadName(Ping):
        entity: ClassVar[str] = "Ping-Event"

    class MissingKey(Ping):
        entity: ClassVar[str] = "missing_key"
        key_fields: ClassVar[tuple[str, ...]] = ("nope",)

    with pytest.raises(ValueError, match="already registered"):
        registry.register(OtherPing)
    with pytest.raises(ValueError, match="table entity"):
        registry.register(TableClash)
    with pytest.raises(ValueError, match="must match"):
        registry.register(BadName)
    with pytest.raises(TypeError, match="nope"):
        registry.register(MissingKey)
    with pytest.raises(TypeError):
        registry.register(dict)  # type: ignore[arg-type]
    # and an instance of an unregistered model is refused by a registry
    with pytest.raises(UnknownEventTypeError):
        REGISTRY.coerce(Ping(tenant_id="t", k="a", n=1, sequence=1, occurred_at=T0))


# --- envelopes -----------------------------------------------------------------------


def test_the_envelope_carries_type_tenant_key_version_actor_and_the_fact():
    turn = samples()[2]
    envelope = to_envelope(turn, "chatbot-service")
    assert envelope.event_type == "chatbot_turn.recorded"
    assert (envelope.tenant_id, envelope.entity, envelope.key) == ("t1", "chatbot_turn", "c1|m1")
    assert envelope.version == int(T0.timestamp()) * 1_000_000
    assert envelope.actor == "u1"
    assert envelope.source.publisher == "chatbot-service"
    assert envelope.after["message_entities"] == {"metric_type": "mrr", "growth_percentage": 0.15}
    assert "ai_response" not in envelope.after  # unset fields are left out, as in a DynamoDB image


def test_event_ids_are_deterministic_per_publisher_and_own_id():
    # GIVEN the same fact published twice, and by another service
    first = to_envelope(stripe("sync-1", 100), "billing")
    again = to_envelope(stripe("sync-1", 100), "billing")
    other_service = to_envelope(stripe("sync-1", 100), "crm")
    next_sync = to_envelope(stripe("sync-2", 100), "billing")
    # THEN the re-publish has the same id; another publisher or sync has another
    assert first.event_id == again.event_id
    assert len({first.event_id, other_service.event_id, next_sync.event_id}) == 3
    # and the key is the startup, not the sync: the latest sync is the state
    assert first.key == next_sync.key == "s1"


def test_a_model_can_take_its_version_from_its_own_counter():
    registry = EventRegistry()
    registry.register(Ping)
    envelope = to_envelope(
        registry.parse("ping", {"tenant_id": "t", "k": "a", "n": 7, "sequence": 42, "occurred_at": T0}), "svc"
    )
    assert (envelope.version, envelope.key) == (42, "a")


def test_the_latest_observation_of_a_state_wins_whatever_the_arrival_order():
    # GIVEN two Stripe syncs of one startup, the later one arriving first
    older = to_envelope(stripe("sync-1", 1_000.0, T0), "billing")
    newer = to_envelope(stripe("sync-2", 2_000.0, T0 + timedelta(days=1)), "billing")
    sink = InMemoryCacheSink()
    # WHEN the cache projection applies them (and a redelivery of the older)
    applied = sink.apply([m for e in (newer, older, older) for m in cache.project(e)])
    # THEN only the newer applied and it is what the cache holds
    assert applied == [APPLIED, STALE, STALE]
    assert sink.get(cache.cache_key("local", "t1", "stripe_mrr_sync", "s1")).state["mrr"] == 2_000.0


def test_every_published_event_decodes_back_exactly():
    for event in samples():
        envelope = to_envelope(event, "svc")
        [decoded] = envelopes_of(encode(envelope))
        assert decoded == envelope
        assert REGISTRY.parse(envelope.event_type, from_json(decoded.after)) == event


def test_an_event_type_no_consumer_knows_yet_is_decoded_not_poison():
    # GIVEN a model registered only in a newer producer
    envelope = to_envelope(Ping(tenant_id="t", k="a", n=1, sequence=1, occurred_at=T0), "svc")
    # THEN an older consumer decodes it (its projections skip it), nothing is dead-lettered
    assert envelopes_of(encode(envelope)) == [envelope]
    assert "ping" not in REGISTRY
