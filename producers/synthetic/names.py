"""Word lists and seeded ids: the vocabulary every generator module draws from.

Ids are UUIDs drawn from the caller's RNG (not ``uuid4()``), so the same seed gives
the same ids and a second run with that seed finds its own items again.
"""

from __future__ import annotations

import random
import uuid

__all__ = [
    "CITIES",
    "INDUSTRIES",
    "INVESTOR_FIRMS",
    "TENANT_SLUGS",
    "company_name",
    "person_name",
    "seeded_uuid",
    "slug",
]

TENANT_SLUGS = (
    "northstar-accelerator",
    "civic-innovation-fund",
    "blue-impact-ventures",
    "savanna-seed-lab",
    "harbor-angel-network",
    "greenfield-esg-capital",
    "metro-enterprise-agency",
)
INDUSTRIES = (
    "EdTech",
    "FinTech",
    "HealthTech",
    "CleanTech",
    "AgriTech",
    "PropTech",
    "Logistics",
    "InsurTech",
    "AI/ML",
    "E-commerce",
)
CITIES = (
    ("San Francisco", "United States"),
    ("Lagos", "Nigeria"),
    ("Nairobi", "Kenya"),
    ("London", "United Kingdom"),
    ("Berlin", "Germany"),
    ("Bangalore", "India"),
    ("Sao Paulo", "Brazil"),
    ("Cape Town", "South Africa"),
    ("Toronto", "Canada"),
)
INVESTOR_FIRMS = (
    "Sequoia Capital",
    "Andreessen Horowitz",
    "Partech Africa",
    "TLcom Capital",
    "Accel",
    "Index Ventures",
    "Lightspeed",
    "Y Combinator",
    "Atomico",
    "Balderton",
)
_FIRST = (
    "Ada",
    "Kwame",
    "Mei",
    "Luis",
    "Amara",
    "Noor",
    "Ines",
    "Tariq",
    "Chidi",
    "Sofia",
    "Ravi",
    "Zanele",
    "Jonas",
    "Aisha",
    "Mateo",
    "Yuki",
    "Fatima",
    "Oren",
    "Lena",
    "Kofi",
)
_LAST = (
    "Okafor",
    "Chen",
    "Garcia",
    "Haddad",
    "Silva",
    "Novak",
    "Mensah",
    "Patel",
    "Kim",
    "Adeyemi",
    "Muller",
    "Rossi",
    "Nakamura",
    "Dubois",
    "Kariuki",
    "Cohen",
    "Santos",
)
_PREFIX = (
    "Bright",
    "Nova",
    "Terra",
    "Swift",
    "Clear",
    "Open",
    "Kinetic",
    "Lumen",
    "Harbor",
    "Atlas",
    "Pulse",
    "Verde",
    "Quantum",
    "Sahel",
    "Orbit",
    "True",
    "Blue",
    "Iron",
)
_SUFFIX = (
    "Ledger",
    "Learn",
    "Health",
    "Grid",
    "Farm",
    "Nest",
    "Route",
    "Cover",
    "Mind",
    "Cart",
    "Labs",
    "Works",
    "Pay",
    "Care",
    "Flow",
    "Stack",
    "Yield",
    "Loop",
)


def seeded_uuid(rng: random.Random) -> str:
    """A version-4-shaped UUID from ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def company_name(rng: random.Random) -> str:
    return f"{rng.choice(_PREFIX)}{rng.choice(_SUFFIX)}"


def slug(text: str) -> str:
    """``"Nova Ledger"`` -> ``"nova-ledger"`` (emails, domains, S3 keys)."""
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
