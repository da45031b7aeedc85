"""A small realistic dataset written through the repository, exercising every kind of change.

Three tenants, each with startups, founders and investors, metric updates over several
days, activities, documents and chatbot conversations; plus the awkward cases the
pipeline must get right: an update race (one writer loses with ``ConflictError``), a
soft delete, a hard delete and an item that DynamoDB's TTL expires.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from producers.repository import Repository
from schemas.errors import ConflictError

__all__ = ["TENANT_NAMES", "DemoCounts", "write_demo_dataset"]

TENANT_NAMES = ("northstar-accelerator", "civic-innovation-fund", "blue-impact-ventures")
_INDUSTRIES = ("EdTech", "FinTech", "HealthTech", "CleanTech", "AgriTech", "PropTech")
_STAGES = ("Pre-Seed", "Seed", "Series A")
_WORDS = (
    "adaptive",
    "learning",
    "payments",
    "clinics",
    "solar",
    "supply",
    "carbon",
    "credit",
    "farmers",
    "tutoring",
    "insurance",
    "housing",
    "analytics",
    "marketplace",
)


@dataclass
class DemoCounts:
    writes: int = 0
    conflicts: int = 0
    soft_deletes: int = 0
    hard_deletes: int = 0
    expiring: list[tuple[str, str]] = field(default_factory=list)  # (entity, key)
    by_entity: dict[str, int] = field(default_factory=dict)


def write_demo_dataset(
    repo: Repository,
    tenants: list[str],
    *,
    startups_per_tenant: int = 3,
    days: int = 5,
    seed: int = 7,
    now: Callable[[], datetime] | None = None,
) -> DemoCounts:
    """Write the dataset; returns what was written (the demo checks projections against it)."""
    rng = random.Random(seed)
    clock = now or (lambda: datetime.now(UTC))
    counts = DemoCounts()
    first_activity: dict[str, str] = {}  # tenant -> key of an activity to hard-delete

    def create(entity: str, values: dict[str, Any], actor: str) -> dict[str, Any]:
        item = repo.create(entity, values, actor=actor)
        counts.writes += 1
        counts.by_entity[entity] = counts.by_entity.get(entity, 0) + 1
        return item

    def update(entity: str, key: dict[str, Any], changes: dict[str, Any], actor: str, **kw: Any) -> dict:
        item = repo.update(entity, key, changes, actor=actor, **kw)
        counts.writes += 1
        return item

    for t_index, tenant in enumerate(tenants):
        admin = f"admin-{t_index}"
        investor = create("user", _user(rng, tenant, f"{tenant}-inv", "venture_capital"), admin)
        event = create(
            "event",
            {
                "tenant_id": tenant,
                "event_id": f"{tenant}-demo-day",
                "title": f"Demo Day {t_index + 1}",
                "description": "Founders pitch to investors",
                "event_type": "demo_day",
                "starts_at": (clock() + timedelta(days=30)).isoformat(),
                "tags": ["pitch", "investors"],
            },
            admin,
        )
        partner = create(
            "partner",
            {
                "tenant_id": tenant,
                "partner_id": f"{tenant}-cloud",
                "name": "CloudCredits Co",
                "description": "Cloud credits for early-stage startups",
                "category": "infrastructure",
                "tier": "Gold",
                "contact_email": "partners@cloudcredits.example",
                "api_key": "sk_live_demo",
            },
            admin,
        )
        for s_index in range(startups_per_tenant):
            sid = f"{tenant}-s{s_index}"
            founder = create("user", _user(rng, tenant, f"{sid}-founder", "startup_founder"), admin)
            uid = founder["user_id"]
            create("startup", _startup(rng, tenant, sid), uid)
            create(
                "user_startup",
                {"tenant_id": tenant, "user_id": uid, "startup_id": sid, "role": "founder", "is_primary": True},
                uid,
            )
            _metrics_over_days(rng, create, update, tenant, sid, uid, days, clock)
            activities = [create("activity", _activity(rng, tenant, sid, uid, a, clock), uid) for a in range(3)]
            first_activity.setdefault(tenant, f"{activities[0]['PK']}|{activities[0]['SK']}")
            for d, kind in enumerate(("pitch_deck", "financial_model")):
                create(
                    "document",
                    {
                        "tenant_id": tenant,
                        "document_id": f"{sid}-doc{d}",
                        "startup_id": sid,
                        "user_id": uid,
                        "document_type": kind,
                        "document_name": f"{kind.replace('_', ' ').title()} v{d + 1}.pdf",
                        "document_description": f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} plan",
                        "tags": [rng.choice(_WORDS), "fundraising"],
                        "file_format": "pdf",
                    },
                    uid,
                )
            conv = f"{sid}-conv"
            create(
                "chatbot_conversation",
                {
                    "tenant_id": tenant,
                    "conversation_id": conv,
                    "startup_id": sid,
                    "user_id": uid,
                    "started_at": clock().isoformat(),
                    "topic": "metrics",
                },
                uid,
            )
            create(
                "chatbot_message",
                {
                    "tenant_id": tenant,
                    "conversation_id": conv,
                    "message_id": "m1",
                    "startup_id": sid,
                    "user_id": uid,
                    "message_timestamp": clock().isoformat(),
                    "message_sender": "user",
                    "message_text": "Our MRR grew 15% this month!",
                    "message_intent": "metric_update",
                    "message_sentiment": "positive",
                    "aux_tokens_awarded": 25,
                },
                uid,
            )
            create(
                "event_registration",
                {
                    "tenant_id": tenant,
                    "event_id": event["event_id"],
                    "user_id": uid,
                    "startup_id": sid,
                    "registered_at": clock().isoformat(),
                },
                uid,
            )
            create(
                "partner_activation",
                {
                    "tenant_id": tenant,
                    "partner_id": partner["partner_id"],
                    "activation_id": f"{sid}-act",
                    "startup_id": sid,
                    "user_id": uid,
                    "benefit": "$5k credits",
                    "activated_at": clock().isoformat(),
                    "redemption_code": f"CODE-{rng.randrange(10**6):06d}",
                    "value_usd": 5000,
                },
                uid,
            )
            create(
                "investor_match",
                {
                    "tenant_id": tenant,
                    "startup_id": sid,
                    "investor_id": investor["user_id"],
                    "match_score": round(rng.uniform(0.5, 0.99), 2),
                    "reasons": ["stage fit"],
                    "matched_at": clock().isoformat(),
                },
                admin,
            )
        _awkward_cases(repo, counts, create, tenant, f"{tenant}-s0", first_activity[tenant], clock)
    return counts


def _awkward_cases(
    repo: Repository, counts: DemoCounts, create, tenant: str, sid: str, activity_key: str, clock
) -> None:
    # An update race: two writers read version v and both try to write v+1.
    current = repo.get("startup", {"startup_id": sid})
    assert current is not None  # written by write_demo_dataset just before
    repo.update(
        "startup",
        {"startup_id": sid},
        {"tagline": "Writer one wins"},
        actor="writer-1",
        expected_version=current["version"],
    )
    counts.writes += 1
    try:
        repo.update(
            "startup",
            {"startup_id": sid},
            {"tagline": "Writer two loses"},
            actor="writer-2",
            expected_version=current["version"],
        )
        counts.writes += 1
    except ConflictError:
        counts.conflicts += 1
    repo.soft_delete(
        "document",
        {"startup_id": sid, "document_id": f"{sid}-doc1"},
        actor="writer-1",
        reason="superseded by a newer model",
    )
    counts.writes += 1
    counts.soft_deletes += 1
    repo.delete("activity", activity_key, actor="writer-1")
    counts.writes += 1
    counts.hard_deletes += 1
    # TTL in the past: DynamoDB deletes it on its own a few seconds later.
    note = create(
        "notification",
        {
            "tenant_id": tenant,
            "user_id": f"{sid}-founder",
            "notification_id": "welcome",
            "created_on": clock().isoformat(),
            "notification_type": "welcome",
            "title": "Welcome aboard",
            "ttl": int(time.time()) - 60,
        },
        "system",
    )
    counts.expiring.append(("notification", f"{note['PK']}|{note['SK']}"))


def _user(rng: random.Random, tenant: str, user_id: str, user_type: str) -> dict[str, Any]:
    first = rng.choice(("Ada", "Kwame", "Mei", "Luis", "Amara", "Noor", "Ines", "Tariq"))
    last = rng.choice(("Okafor", "Chen", "Garcia", "Haddad", "Silva", "Novak", "Mensah"))
    return {
        "tenant_id": tenant,
        "user_id": user_id,
        "email": f"{user_id}@example.com",
        "password_hash": "$2b$12$" + "x" * 53,
        "full_name": f"{first} {last}",
        "user_type": user_type,
        "email_verified": True,
        "onboarding_completed": True,
        "timezone": "Africa/Lagos",
    }


def _startup(rng: random.Random, tenant: str, sid: str) -> dict[str, Any]:
    industry = rng.choice(_INDUSTRIES)
    mrr = rng.randrange(5_000, 400_000)
    burn = rng.randrange(20_000, 150_000)
    cash = burn * rng.randrange(6, 24)
    name = f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS).title()} {sid[-2:].upper()}"
    return {
        "tenant_id": tenant,
        "startup_id": sid,
        "company_name": name,
        "tagline": f"{rng.choice(_WORDS).title()} for {rng.choice(_WORDS)}",
        "elevator_pitch": f"We help {rng.choice(_WORDS)} teams with {rng.choice(_WORDS)} {rng.choice(_WORDS)}",
        "description": f"{name} builds {industry} software for {rng.choice(_WORDS)} markets.",
        "industry": industry,
        "stage": rng.choice(_STAGES),
        "sse_score": rng.randrange(40, 95),
        "company_details": {
            "legal_name": f"{name} Ltd",
            "tax_id": f"TAX-{rng.randrange(10**8):08d}",
            "incorporation_country": "Nigeria",
        },
        "financial_metrics": {
            "mrr": mrr,
            "arr": mrr * 12,
            "monthly_burn_rate": burn,
            "cash_balance": cash,
            "runway_months": round(cash / burn, 1),
        },
    }


def _metrics_over_days(rng, create, update, tenant, sid, uid, days, clock) -> None:
    mrr = rng.randrange(5_000, 100_000)
    start = clock().date() - timedelta(days=days)
    for day in range(days):
        mrr = int(mrr * rng.uniform(0.97, 1.08))
        on: date = start + timedelta(days=day)
        create(
            "startup_metric",
            {
                "tenant_id": tenant,
                "startup_id": sid,
                "date": on.isoformat(),
                "mrr": mrr,
                "arr": mrr * 12,
                "sse_score": rng.randrange(40, 95),
                "team_size": rng.randrange(3, 40),
            },
            uid,
        )
        update(
            "startup",
            {"startup_id": sid},
            {"sse_score": rng.randrange(40, 95), "last_metric_update": clock().isoformat()},
            uid,
        )


def _activity(rng, tenant, sid, uid, n, clock) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "activity_id": f"{sid}-a{n}",
        "startup_id": sid,
        "user_id": uid,
        "timestamp": (clock() - timedelta(minutes=n)).isoformat(),
        "activity_type": rng.choice(("metric_update", "document_upload", "event_signup")),
        "activity_description": "Updated MRR",
        "ip_address": "203.0.113.7",
        "aux_tokens_earned": rng.choice((10, 25, 50)),
        "aux_tokens_spent": rng.choice((0, 0, 5)),
    }
