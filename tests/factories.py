"""Deterministic test data for every entity of :mod:`schemas.catalog`.

``make_item(entity, n)`` is a valid input to ``Repository.create`` (model fields only,
no audit fields, no key attributes). The same ``n`` always gives the same item;
different ``n`` give different keys. Ids line up across entities, so
``make_item("startup_metric", 3)`` belongs to ``make_item("startup", 3)`` (``s3``) and
``make_item("activity", 3)`` was done by ``make_item("user", 3)`` (``u3``).

Items carry their secret fields (``password_hash``, ``api_key``, ``company_details.tax_id``
...) so a router test can check they are dropped.

``make_stored_item`` is the same item as the repository stores it (key attributes,
``version``, audit fields); ``make_image`` is that in the low-level AttributeValue form
of a GetItem ``Item`` or a stream record's ``NewImage``/``OldImage``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from producers.repository import build_item
from schemas import catalog
from schemas.entities.auxeira import USER_TYPES
from schemas.tables import KeyStyle
from schemas.wire.dynamodb import format_timestamp, serialize_item

__all__ = [
    "BASE_TIME",
    "DEFAULT_TENANT",
    "ENTITY_NAMES",
    "day",
    "epoch",
    "make_image",
    "make_item",
    "make_key",
    "make_stored_item",
    "timestamp",
]

#: Every generated time is this plus ``n`` minutes (dates: plus ``n`` days).
BASE_TIME = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
DEFAULT_TENANT = "t1"
ENTITY_NAMES: tuple[str, ...] = tuple(catalog.ENTITIES)

_STAGES = ("Idea", "Pre-Seed", "Seed", "Series A", "Series B", "Series C", "Growth")
_INDUSTRIES = ("fintech", "agritech", "healthtech", "cleantech")


def timestamp(n: int, *, minutes: int = 0) -> str:
    """The ``n``-th timestamp, in the repository's format."""
    return format_timestamp(BASE_TIME + timedelta(minutes=n + minutes))


def day(n: int) -> str:
    """The ``n``-th ISO date."""
    return (BASE_TIME.date() + timedelta(days=n)).isoformat()


def epoch(n: int, *, days: int = 30) -> int:
    """Epoch seconds ``days`` after the ``n``-th timestamp (TTL attributes)."""
    return int((BASE_TIME + timedelta(minutes=n, days=days)).timestamp())


def _pick(options: tuple[Any, ...], n: int) -> Any:
    return options[n % len(options)]


# -- one builder per entity: n -> fields (the tenant attribute is added by make_item) ----

_BUILDERS: dict[str, Callable[[int], dict[str, Any]]] = {
    "user": lambda n: {
        "user_id": f"u{n}",
        "email": f"user{n}@example.com",
        "full_name": f"User {n}",
        "user_type": _pick(USER_TYPES, n),
        "company_name": f"Startup {n}",
        "phone_number": f"+2547000{n:05d}",
        "password_hash": f"hash-{n}",
        "last_login": timestamp(n),
        "onboarding_step": n % 5,
    },
    "startup": lambda n: {
        "startup_id": f"s{n}",
        "company_name": f"Startup {n}",
        "industry": _pick(_INDUSTRIES, n),
        "stage": _pick(_STAGES, n),
        "sse_score": n % 101,
        "tagline": f"Tagline {n}",
        "company_details": {
            "legal_name": f"Startup {n} Ltd",
            "incorporation_country": "KE",
            "incorporation_date": day(n),
            "tax_id": f"TAX-{n}",
            "headquarters_address": {"city": "Nairobi", "street": f"{n} Moi Avenue"},
        },
        "financial_metrics": {"mrr": 1000.5 + n, "currency": "USD"},
        "team_operations": {"team_size": 3 + n % 10},
    },
    "startup_metric": lambda n: {
        "startup_id": f"s{n}",
        "date": day(n),
        "mrr": 1000.5 + n,
        "arr": 12006.0 + 12 * n,
        "total_customers": 10 + n,
        "churn_rate": 0.05,
        "sse_score": n % 101,
        "team_size": 4,
    },
    "activity": lambda n: {
        "activity_id": f"a{n}",
        "startup_id": f"s{n}",
        "user_id": f"u{n}",
        "timestamp": timestamp(n),
        "activity_type": _pick(("login", "metric_update", "upload"), n),
        "activity_value": 1.5 * n,
        "ip_address": f"10.0.0.{n % 256}",
        "aux_tokens_earned": n % 50,
    },
    "document": lambda n: {
        "document_id": f"d{n}",
        "startup_id": f"s{n}",
        "user_id": f"u{n}",
        "document_type": _pick(("pitch_deck", "financials", "legal"), n),
        "document_name": f"doc-{n}.pdf",
        "file_size_bytes": 1024 * (n + 1),
        "upload_date": timestamp(n),
        "tags": ["fundraising", f"tag{n % 3}"],
    },
    "chatbot_conversation": lambda n: {
        "conversation_id": f"c{n}",
        "startup_id": f"s{n}",
        "user_id": f"u{n}",
        "started_at": timestamp(n),
        "topic": "fundraising",
        "ttl": epoch(n),
    },
    "chatbot_message": lambda n: {
        "conversation_id": f"c{n}",
        "message_id": f"m{n}",
        "startup_id": f"s{n}",
        "user_id": f"u{n}",
        "message_timestamp": timestamp(n),
        "message_sender": _pick(("user", "assistant"), n),
        "message_text": f"Message {n}",
        "ai_confidence_score": 0.75,
        "ttl": epoch(n),
    },
    "activity_submission": lambda n: {
        "submission_id": f"sub{n}",
        "activity_type_id": f"at{n}",
        "startup_id": f"s{n}",
        "user_id": f"u{n}",
        "status": _pick(("submitted", "under_review", "approved"), n),
        "submitted_at": timestamp(n),
        "proof_url": f"https://example.com/proof/{n}",
    },
    "peer_assessment": lambda n: {
        "submission_id": f"sub{n}",
        "assessor_id": f"u{n}",
        "score": 1 + n % 5,
        "comments": f"Comment {n}",
        "assessed_at": timestamp(n),
    },
    "event": lambda n: {
        "event_id": f"e{n}",
        "title": f"Event {n}",
        "event_type": _pick(("workshop", "demo_day"), n),
        "starts_at": timestamp(n, minutes=60 * 24),
        "is_virtual": n % 2 == 0,
        "capacity": 50,
        "tags": ["community"],
    },
    "event_registration": lambda n: {
        "event_id": f"e{n}",
        "user_id": f"u{n}",
        "startup_id": f"s{n}",
        "registered_at": timestamp(n),
    },
    "partner": lambda n: {
        "partner_id": f"p{n}",
        "name": f"Partner {n}",
        "category": _pick(("cloud", "legal"), n),
        "tier": _pick(("Bronze", "Silver", "Gold", "Platinum"), n),
        "contact_email": f"partner{n}@example.com",
        "api_key": f"key-{n}",
    },
    "partner_activation": lambda n: {
        "partner_id": f"p{n}",
        "activation_id": f"pa{n}",
        "startup_id": f"s{n}",
        "user_id": f"u{n}",
        "benefit": "credits",
        "activated_at": timestamp(n),
        "redemption_code": f"CODE-{n}",
        "value_usd": 250.0 + n,
    },
    "investor_match": lambda n: {
        "startup_id": f"s{n}",
        "investor_id": f"inv{n}",
        "match_score": (n % 100) / 100,
        "reasons": ["stage", "industry"],
        "matched_at": timestamp(n),
    },
    "readiness_item": lambda n: {
        "startup_id": f"s{n}",
        "item_id": f"ri{n}",
        "category": "legal",
        "title": f"Checklist item {n}",
        "weight": 1.5,
    },
    "notification": lambda n: {
        "user_id": f"u{n}",
        "notification_id": f"n{n}",
        "created_on": timestamp(n),
        "notification_type": "match",
        "title": f"Notification {n}",
        "ttl": epoch(n),
    },
    "user_session": lambda n: {
        "user_id": f"u{n}",
        "session_id": f"sess{n}",
        "started_at": timestamp(n),
        "ip_address": f"10.0.1.{n % 256}",
        "session_token": f"token-{n}",
        "page_views": n,
        "ttl": epoch(n, days=1),
    },
    "user_startup": lambda n: {
        "user_id": f"u{n}",
        "startup_id": f"s{n}",
        "role": "founder",
        "is_primary": True,
    },
    "catalog_activity": lambda n: {
        "activity_type_id": f"at{n}",
        "name": f"Activity type {n}",
        "category": "growth",
        "aux_tokens_reward": 10 * (n % 10),
    },
    "loan": lambda n: {
        "loan_id": f"l{n}",
        "startup_id": f"s{n}",
        "borrower_id": f"u{n}",
        "title": f"Working capital {n}",
        "amount": 10000 + 500 * n,
        "interest_rate": 8.5,
        "term_months": 12 + n % 24,
        "status": _pick(("draft", "open", "funded"), n),
        "opened_at": timestamp(n),
        "terms": {"repayment": "monthly", "grace_months": n % 3},
        "disbursement_account": {"iban": f"KE00BANK{n:08d}"},
    },
    "loan_participant": lambda n: {
        "loan_id": f"l{n}",
        "participant_id": f"lp{n}",
        "lender_email": f"lender{n}@example.com",
        "contribution_amount": 1000.25 + n,
        "invited_at": timestamp(n),
        "invited_by": f"u{n}",
        "invitation_token": f"invite-{n}",
        **(
            {"status": "accepted", "lender_id": f"u{n}", "responded_at": timestamp(n, minutes=5)}
            if n % 2
            else {"status": "pending"}
        ),
    },
    "organization": lambda n: {
        "entityType": "ORGANIZATION",
        "name": f"Org {n}",
        "ownerId": f"u{n}",
        "plan": _pick(("free", "pro", "enterprise"), n),
        "settings": {"weeklyReport": True},
        "createdAt": epoch(n, days=0) * 1000,
    },
    "member": lambda n: {
        "entityType": "MEMBER",
        "userId": f"u{n}",
        "email": f"member{n}@example.com",
        "name": f"Member {n}",
        "role": "member",
        "githubUsername": f"gh{n}",
    },
    "invitation": lambda n: {
        "entityType": "INVITATION",
        "invitationId": f"inv{n}",
        "email": f"invitee{n}@example.com",
        "invitedBy": f"u{n}",
        "token": f"invite-token-{n}",
        "expiresAt": epoch(n, days=7),
    },
    "github_data": lambda n: {
        "entityType": "GITHUB_DATA",
        "githubUsername": f"gh{n}",
        "userId": f"u{n}",
        "metrics": {"commits": 10 + n, "prs": n % 7},
        "expiresAt": epoch(n),
    },
    "team_report": lambda n: {
        "entityType": "TEAM_REPORT",
        "reportDate": day(n),
        "summary": {"members": 3},
        "burnoutRisks": [{"userId": f"u{n}", "risk": 0.25}],
        "expiresAt": epoch(n),
    },
    "assistant_user": lambda n: {
        "email": f"assistant{n}@example.com",
        "firstName": f"First{n}",
        "lastName": "Last",
        "refreshToken": f"refresh-{n}",
        "loginCount": n,
    },
    "assistant_document": lambda n: {
        "documentId": f"doc{n}",
        "fileName": f"file-{n}.pdf",
        "fileType": "application/pdf",
        "fileSize": 2048 + n,
        "status": "ready",
        "uploadDate": timestamp(n),
    },
}


def _identified_by_tenant(entity_name: str) -> bool:
    """True when the tenant attribute is the whole key (organization, assistant_user)."""
    spec, table = catalog.entity(entity_name), catalog.table_of_entity(entity_name)
    fields = table.key_attrs if table.style is KeyStyle.PLAIN else spec.template_fields()
    return set(fields) <= {spec.tenant_attr}


def make_item(entity_name: str, n: int = 0, tenant: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid ``Repository.create`` input for ``entity_name``, deterministic in ``n``.

    Args:
        tenant: value of the entity's tenant attribute (``tenant_id``, ``organizationId``
            or ``userId``). Defaults to ``"t1"``, except for entities whose key is the
            tenant attribute alone, where it is ``"t1-{n}"`` so distinct ``n`` give
            distinct keys.
        overrides: fields to replace; a ``None`` override removes the field.
    """
    spec = catalog.entity(entity_name)
    if tenant is None:
        tenant = f"{DEFAULT_TENANT}-{n}" if _identified_by_tenant(entity_name) else DEFAULT_TENANT
    item = {spec.tenant_attr: tenant, **_BUILDERS[entity_name](n), **overrides}
    return {k: v for k, v in item.items() if v is not None}


def make_stored_item(
    entity_name: str,
    n: int = 0,
    tenant: str | None = None,
    *,
    version: int = 1,
    actor: str = "factory",
    at: datetime | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """``make_item`` as the repository stores it: key attributes, ``version``, audit
    fields (``created_*``/``updated_*`` = ``actor`` at ``at``, default the ``n``-th
    timestamp), plain values."""
    values = make_item(entity_name, n, tenant, **overrides)
    when = at or datetime.fromisoformat(timestamp(n))
    return build_item(entity_name, values, actor=actor, now=when, version=version)


def make_image(entity_name: str, n: int = 0, tenant: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """``make_stored_item`` in the low-level AttributeValue form (``{"S": ...}``)."""
    return serialize_item(make_stored_item(entity_name, n, tenant, **kwargs))


def make_key(entity_name: str, n: int = 0, tenant: str | None = None, **overrides: Any) -> str:
    """The stable key string (``"STARTUP#s3|PROFILE"``) of ``make_item(entity_name, n)``."""
    table = catalog.table_of_entity(entity_name)
    return table.key_of(make_stored_item(entity_name, n, tenant, **overrides))


def _check_builders() -> None:
    # A new catalog entity without a builder should fail at import, not in some test.
    missing = set(catalog.ENTITIES) - set(_BUILDERS)
    if missing:
        raise RuntimeError(f"tests/factories.py has no builder for {sorted(missing)}")


_check_builders()
