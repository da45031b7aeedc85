"""What a tenant has before its startups arrive: staff and investors of the six other user
types, partners with benefits, events, and the catalogue of activities that earn aux tokens.

Pure; everything derives from the workload seed and the tenant's index, so a startup's
generator can point at the tenant's investors, partners and events without reading them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from producers.synthetic import names

__all__ = ["INVESTOR_TYPES", "STAFF_PER_TYPE", "TenantContext", "build_tenant", "tenant_id"]

#: Dashboard users per tenant, by type (the founders come with their startups).
STAFF_PER_TYPE: dict[str, int] = {
    "venture_capital": 2,
    "angel_investor": 3,
    "corporate_partner": 2,
    "government": 1,
    "esg_funder": 1,
    "impact_investor": 1,
}
#: User types an investor match can point at.
INVESTOR_TYPES = ("venture_capital", "angel_investor", "impact_investor", "esg_funder")

_PARTNERS = (
    ("CloudCredits Co", "infrastructure", "$5k cloud credits", 5_000.0),
    ("LegalEase", "legal", "Free incorporation review", 1_500.0),
    ("OpenBank", "banking", "Fee-free business account for a year", 600.0),
    ("GrowthAds", "marketing", "$2k ad credits", 2_000.0),
)
_EVENTS = (
    ("Demo Day", "demo_day"),
    ("Investor Office Hours", "office_hours"),
    ("Founder Summit", "conference"),
    ("Pitch Clinic", "workshop"),
)
#: (name, category, aux tokens) of the activities catalogue (seed 000's gamification).
CATALOG = (
    ("metric_update", "financial", 50),
    ("document_upload", "fundraising", 25),
    ("pitch_practice", "fundraising", 40),
    ("customer_interview", "product", 30),
    ("mentor_session", "growth", 35),
    ("event_attendance", "community", 20),
)


@dataclass(frozen=True)
class TenantContext:
    """Ids and item values of one tenant's shared entities."""

    tenant_id: str
    admin_id: str
    users: tuple[dict[str, Any], ...]
    partners: tuple[dict[str, Any], ...]
    #: partner_id -> (benefit offered to startups, its value in USD)
    benefits: dict[str, tuple[str, float]]
    events: tuple[dict[str, Any], ...]
    catalog: tuple[dict[str, Any], ...]

    def investors(self) -> list[dict[str, Any]]:
        return [u for u in self.users if u["user_type"] in INVESTOR_TYPES]

    def catalog_entry(self, name: str) -> dict[str, Any]:
        return next(c for c in self.catalog if c["name"] == name)


def tenant_id(seed: int, index: int) -> str:
    """``northstar-accelerator-s42``; past the list, ``northstar-accelerator-8-s42``."""
    base = names.TENANT_SLUGS[index % len(names.TENANT_SLUGS)]
    lap = index // len(names.TENANT_SLUGS)
    return f"{base}-{lap}-s{seed}" if lap else f"{base}-s{seed}"


def build_tenant(seed: int, index: int, *, as_of: date, days: int) -> TenantContext:
    """The tenant's shared entities; events fall in the range and one (demo day) after it."""
    tid = tenant_id(seed, index)
    rng = random.Random(f"{seed}:tenant:{index}")
    admin = _user(rng, tid, "admin", "Programme Manager")
    users = [admin] + [_user(rng, tid, kind, None) for kind, n in STAFF_PER_TYPE.items() for _ in range(n)]
    chosen = _PARTNERS[: rng.randint(2, len(_PARTNERS))]
    partners = [_partner(rng, tid, name, category, offering) for name, category, offering, _ in chosen]
    benefits = {p["partner_id"]: (p["offering"], value) for p, (*_, value) in zip(partners, chosen)}
    start = datetime.combine(as_of - timedelta(days=days), time(15, 0, tzinfo=UTC))
    events = [
        _event(rng, tid, title, kind, start + timedelta(days=rng.randint(0, days))) for title, kind in _EVENTS[1:]
    ]
    events.append(_event(rng, tid, "Demo Day", "demo_day", start + timedelta(days=days + 30)))
    catalog = [
        {
            "tenant_id": tid,
            "activity_type_id": names.seeded_uuid(rng),
            "name": name,
            "description": name.replace("_", " ").capitalize(),
            "category": category,
            "aux_tokens_reward": tokens,
        }
        for name, category, tokens in CATALOG
    ]
    return TenantContext(tid, admin["user_id"], tuple(users), tuple(partners), benefits, tuple(events), tuple(catalog))


def _user(rng: random.Random, tid: str, user_type: str, title: str | None) -> dict[str, Any]:
    full = names.person_name(rng)
    firm = rng.choice(names.INVESTOR_FIRMS) if user_type != "government" else "Enterprise Agency"
    return {
        "tenant_id": tid,
        "user_id": names.seeded_uuid(rng),
        "full_name": full,
        "user_type": user_type,
        "email": f"{names.slug(full).replace('-', '.')}@{names.slug(firm)}.example",
        "company_name": firm,
        "job_title": title or user_type.replace("_", " ").title(),
        "email_verified": True,
        "onboarding_completed": True,
    }


def _partner(rng: random.Random, tid: str, name: str, category: str, offering: str) -> dict[str, Any]:
    return {
        "tenant_id": tid,
        "partner_id": names.seeded_uuid(rng),
        "name": name,
        "description": f"{name}: {offering}",
        "category": category,
        "offering": offering,
        "tier": rng.choice(("Silver", "Gold", "Platinum")),
        "contact_email": f"partners@{names.slug(name)}.example",
        "api_key": f"sk_live_{rng.getrandbits(96):024x}",
    }


def _event(rng: random.Random, tid: str, title: str, kind: str, starts: datetime) -> dict[str, Any]:
    return {
        "tenant_id": tid,
        "event_id": names.seeded_uuid(rng),
        "title": title,
        "event_type": kind,
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=3),
        "is_virtual": rng.random() < 0.5,
        "capacity": rng.choice((50, 100, 250)),
        "tags": ["founders", kind],
    }
