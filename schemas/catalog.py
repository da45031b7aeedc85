"""Every table the pipeline knows: the 17 Auxeira tables, the two lending tables and
the two foreign styles.

Design notes where the seeds are silent:

* Every Auxeira item carries ``tenant_id`` (the programme or fund it belongs to);
  tenant isolation is by attribute, checked by every projection.
* Sort keys use stable ids rather than bare timestamps (``ACTIVITY#{timestamp}#{activity_id}``)
  so two writes in the same second cannot collide, while still sorting by time.
* Chatbot conversations get a ``META`` header item beside their ``MESSAGE#`` items, so
  a conversation can be counted without scanning its messages.
* TTL (``ttl``, epoch seconds) on chatbot messages, notifications and sessions.

Who an item is about (the right to be forgotten, ``auxeira erase``): every entity with
an attribute naming a user declares it in ``subject_attrs`` and how erasing that user
treats the item (``erasure``). The rule: an item is **owned** when the user's id is part
of its key or the item only makes sense for that person (their profile, sessions,
notifications, registrations, conversations, assessments, matches, memberships, assistant
data): it is deleted. It is **shared** when others still need it (an activity or a
document of a startup, a submission, a partner activation, a loan and its participants,
an organization, an invitation, a team report): it stays, the user's ids become a keyed
pseudonym and the pii paths about that user (``pii_subject``) are tokenized or blanked.
A shared entity never has a subject attribute in its key (a key cannot be rewritten);
``tests/unit/schemas/test_ownership.py`` checks that, and that no entity with a
user-id-like attribute forgets to declare it.
"""

from __future__ import annotations

from typing import Any

from schemas import entities as m
from schemas.tables import EntitySpec, Gsi, KeyStyle, TableSpec, resolve_table

__all__ = ["ENTITIES", "TABLES", "entity", "resolve", "table", "table_of_entity"]

S, N = "S", "N"
_STARTUP = {"startup_id": "startup"}
#: The user an owned item is about (``subject_attrs`` + ``erasure``), by attribute name.
_OWNED_BY_USER: dict[str, Any] = {"subject_attrs": ("user_id",), "erasure": "owned"}


def _pk_sk(name: str, *entities: EntitySpec, gsis: tuple[Gsi, ...] = (), ttl: str | None = None) -> TableSpec:
    return TableSpec(name=name, style=KeyStyle.PK_SK, entities=entities, gsis=gsis, ttl_attr=ttl)


AUXEIRA_TABLES: tuple[TableSpec, ...] = (
    _pk_sk(
        "users",
        EntitySpec(
            "user",
            m.User,
            pk="USER#{user_id}",
            sk="PROFILE",
            secret=("password_hash", "mfa_secret"),
            pii=("email", "full_name", "phone_number", "linkedin_url", "twitter_handle", "profile_photo_url"),
            **_OWNED_BY_USER,
        ),
        gsis=(
            Gsi("EmailIndex", ("email", S)),
            Gsi("UserTypeIndex", ("user_type", S), ("SK", S)),
            Gsi("TenantIndex", ("tenant_id", S), ("PK", S)),
        ),
    ),
    _pk_sk(
        "startups",
        EntitySpec(
            "startup",
            m.Startup,
            pk="STARTUP#{startup_id}",
            sk="PROFILE",
            secret=("company_details.tax_id",),
            pii=(
                "company_details.company_registration_number",
                "company_details.headquarters_address",
                "team_operations",
            ),
        ),
        EntitySpec("startup_metric", m.StartupMetric, pk="STARTUP#{startup_id}", sk="METRICS#{date}", parents=_STARTUP),
        gsis=(
            Gsi("IndustryIndex", ("industry", S), ("sse_score", N)),
            Gsi("StageIndex", ("stage", S), ("sse_score", N)),
            Gsi("TenantIndex", ("tenant_id", S), ("PK", S)),
        ),
    ),
    _pk_sk(
        "activities",
        EntitySpec(
            "activity",
            m.Activity,
            pk="STARTUP#{startup_id}",
            sk="ACTIVITY#{timestamp}#{activity_id}",
            pii=("ip_address", "user_agent", "location"),
            parents={"startup_id": "startup", "user_id": "user"},
            subject_attrs=("user_id",),
            erasure="shared",
            pii_subject="user_id",
        ),
        gsis=(
            Gsi("UserActivityIndex", ("user_id", S), ("SK", S)),
            Gsi("ActivityTypeIndex", ("activity_type", S), ("SK", S)),
        ),
    ),
    _pk_sk(
        "documents",
        EntitySpec(
            "document",
            m.Document,
            pk="STARTUP#{startup_id}",
            sk="DOCUMENT#{document_id}",
            parents=_STARTUP,
            subject_attrs=("user_id", "shared_with"),
            erasure="shared",
        ),
        gsis=(Gsi("DocumentTypeIndex", ("document_type", S), ("SK", S)),),
    ),
    _pk_sk(
        "chatbot-conversations",
        EntitySpec(
            "chatbot_conversation",
            m.ChatbotConversation,
            pk="CONVERSATION#{conversation_id}",
            sk="META",
            parents=_STARTUP,
            **_OWNED_BY_USER,
        ),
        EntitySpec(
            "chatbot_message",
            m.ChatbotMessage,
            pk="CONVERSATION#{conversation_id}",
            sk="MESSAGE#{message_timestamp}#{message_id}",
            parents=_STARTUP,
            **_OWNED_BY_USER,
        ),
        gsis=(Gsi("StartupConversationIndex", ("startup_id", S), ("SK", S)),),
        ttl="ttl",
    ),
    _pk_sk(
        "activity-submissions",
        EntitySpec(
            "activity_submission",
            m.ActivitySubmission,
            pk="SUBMISSION#{submission_id}",
            sk="META",
            parents=_STARTUP,
            subject_attrs=("user_id",),
            erasure="shared",
        ),
        gsis=(
            Gsi("StartupSubmissionIndex", ("startup_id", S), ("submitted_at", S)),
            Gsi("StatusIndex", ("status", S), ("submitted_at", S)),
        ),
    ),
    _pk_sk(
        "peer-assessments",
        EntitySpec(
            "peer_assessment",
            m.PeerAssessment,
            pk="SUBMISSION#{submission_id}",
            sk="ASSESSMENT#{assessor_id}",
            subject_attrs=("assessor_id",),
            erasure="owned",
        ),
        gsis=(Gsi("AssessorIndex", ("assessor_id", S), ("SK", S)),),
    ),
    _pk_sk(
        "events",
        EntitySpec("event", m.Event, pk="EVENT#{event_id}", sk="META"),
        gsis=(Gsi("EventTypeIndex", ("event_type", S), ("starts_at", S)),),
    ),
    _pk_sk(
        "event-registrations",
        EntitySpec(
            "event_registration",
            m.EventRegistration,
            pk="EVENT#{event_id}",
            sk="REGISTRATION#{user_id}",
            parents={"event_id": "event"},
            **_OWNED_BY_USER,
        ),
        gsis=(Gsi("UserRegistrationIndex", ("user_id", S), ("SK", S)),),
    ),
    _pk_sk(
        "partners",
        EntitySpec(
            "partner", m.Partner, pk="PARTNER#{partner_id}", sk="META", secret=("api_key",), pii=("contact_email",)
        ),
        gsis=(Gsi("CategoryIndex", ("category", S), ("PK", S)),),
    ),
    _pk_sk(
        "partner-activations",
        EntitySpec(
            "partner_activation",
            m.PartnerActivation,
            pk="PARTNER#{partner_id}",
            sk="ACTIVATION#{activation_id}",
            secret=("redemption_code",),
            parents={"partner_id": "partner", "startup_id": "startup"},
            subject_attrs=("user_id",),
            erasure="shared",
        ),
        gsis=(Gsi("StartupActivationIndex", ("startup_id", S), ("activated_at", S)),),
    ),
    _pk_sk(
        "investor-matches",
        EntitySpec(
            "investor_match",
            m.InvestorMatch,
            pk="STARTUP#{startup_id}",
            sk="MATCH#{investor_id}",
            parents=_STARTUP,
            subject_attrs=("investor_id",),
            erasure="owned",
        ),
        gsis=(Gsi("InvestorMatchIndex", ("investor_id", S), ("match_score", N)),),
    ),
    _pk_sk(
        "funding-readiness-checklist",
        EntitySpec("readiness_item", m.ReadinessItem, pk="STARTUP#{startup_id}", sk="ITEM#{item_id}", parents=_STARTUP),
    ),
    _pk_sk(
        "notifications",
        EntitySpec(
            "notification",
            m.Notification,
            pk="USER#{user_id}",
            sk="NOTIFICATION#{created_on}#{notification_id}",
            **_OWNED_BY_USER,
        ),
        ttl="ttl",
    ),
    _pk_sk(
        "user-sessions",
        EntitySpec(
            "user_session",
            m.UserSession,
            pk="USER#{user_id}",
            sk="SESSION#{session_id}",
            secret=("session_token",),
            pii=("ip_address",),
            parents={"user_id": "user"},
            **_OWNED_BY_USER,
        ),
        ttl="ttl",
    ),
    _pk_sk(
        "user-startup-mapping",
        EntitySpec("user_startup", m.UserStartup, pk="USER#{user_id}", sk="STARTUP#{startup_id}", **_OWNED_BY_USER),
        gsis=(Gsi("StartupUserIndex", ("startup_id", S), ("user_id", S)),),
    ),
    _pk_sk(
        "activities-catalog",
        EntitySpec("catalog_activity", m.CatalogActivity, pk="ACTIVITY_TYPE#{activity_type_id}", sk="META"),
    ),
)

# The lending marketplace (seed 003). Participants are keyed by the immutable
# participant_id; lender_id is absent until acceptance, so LenderIndex is sparse.
# The loan's funding figures live in the counters table (see schemas.entities.lending).
LENDING_TABLES: tuple[TableSpec, ...] = (
    _pk_sk(
        "loans",
        EntitySpec(
            "loan",
            m.Loan,
            pk="LOAN#{loan_id}",
            sk="META",
            secret=("disbursement_account",),
            parents={"startup_id": "startup", "borrower_id": "user"},
            subject_attrs=("borrower_id",),
            erasure="shared",
        ),
        gsis=(
            Gsi("StartupLoanIndex", ("startup_id", S), ("created_at", S)),
            Gsi("StatusIndex", ("status", S), ("created_at", S)),
        ),
    ),
    _pk_sk(
        "loan-participants",
        EntitySpec(
            "loan_participant",
            m.LoanParticipant,
            pk="LOAN#{loan_id}",
            sk="PARTICIPANT#{participant_id}",
            secret=("invitation_token",),
            pii=("lender_email", "message"),
            parents={"loan_id": "loan"},
            subject_attrs=("lender_id", "invited_by"),
            erasure="shared",
            pii_subject="lender_id",
        ),
        gsis=(
            Gsi("LenderEmailIndex", ("lender_email", S), ("status", S)),
            Gsi("LenderIndex", ("lender_id", S), ("status", S)),
            Gsi("ParticipantIndex", ("participant_id", S)),
        ),
    ),
)

# Who each item of the organizations table is about: a member and a user's GitHub data are
# that person's; an organization (its owner), an invitation (who sent it) and a team report
# (its members' risks) are the team's.
_ORG_SUBJECTS: dict[str, dict[str, Any]] = {
    "organization": {"subject_attrs": ("ownerId",), "erasure": "shared"},
    "member": {"subject_attrs": ("userId",), "erasure": "owned"},
    "invitation": {"subject_attrs": ("invitedBy",), "erasure": "shared"},
    "github_data": {"subject_attrs": ("userId",), "erasure": "owned"},
    "team_report": {"subject_attrs": ("burnoutRisks[].userId",), "erasure": "shared"},
}

ORGANIZATIONS = TableSpec(
    name="organizations",
    style=KeyStyle.SINGLE_TABLE,
    physical="devinsights-{name}-{env}",
    discriminator="entityType",
    ttl_attr="expiresAt",
    entities=tuple(
        EntitySpec(
            name,
            model,
            pk="ORG#{organizationId}",
            sk=sk,
            type_value=type_value,
            tenant_attr="organizationId",
            secret=secret,
            pii=pii,
            **_ORG_SUBJECTS[name],
        )
        for name, model, sk, type_value, secret, pii in (
            ("organization", m.Organization, "ORG#{organizationId}", "ORGANIZATION", (), ()),
            ("member", m.Member, "MEMBER#{userId}", "MEMBER", (), ("email", "name")),
            ("invitation", m.Invitation, "INVITATION#{invitationId}", "INVITATION", ("token",), ("email",)),
            ("github_data", m.GithubData, "GITHUB_DATA#{githubUsername}", "GITHUB_DATA", (), ()),
            ("team_report", m.TeamReport, "TEAM_REPORT#{reportDate}", "TEAM_REPORT", (), ()),
        )
    ),
    gsis=(Gsi("GSI1", ("GSI1PK", S), ("GSI1SK", S)), Gsi("GSI2", ("GSI2PK", S), ("GSI2SK", S))),
)

ASSISTANT_TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        name="users",
        style=KeyStyle.PLAIN,
        physical="ai-assistant-{name}-{env}",
        hash_key="userId",
        range_key=None,
        entities=(
            EntitySpec(
                "assistant_user",
                m.AssistantUser,
                tenant_attr="userId",
                secret=("refreshToken",),
                pii=("email", "firstName", "lastName"),
                subject_attrs=("userId",),
                erasure="owned",
            ),
        ),
        gsis=(Gsi("EmailIndex", ("email", S)),),
    ),
    TableSpec(
        name="documents",
        style=KeyStyle.PLAIN,
        physical="ai-assistant-{name}-{env}",
        hash_key="userId",
        range_key="documentId",
        entities=(
            EntitySpec(
                "assistant_document",
                m.AssistantDocument,
                tenant_attr="userId",
                subject_attrs=("userId",),
                erasure="owned",
            ),
        ),
        gsis=(Gsi("StatusIndex", ("status", S), ("uploadDate", S)),),
    ),
)

TABLES: tuple[TableSpec, ...] = (*AUXEIRA_TABLES, *LENDING_TABLES, ORGANIZATIONS, *ASSISTANT_TABLES)

_TABLE_OF_ENTITY: dict[str, TableSpec] = {e.name: t for t in TABLES for e in t.entities}
ENTITIES: dict[str, EntitySpec] = {e.name: e for t in TABLES for e in t.entities}


def table(name: str, physical: str = "auxeira-{name}-{env}") -> TableSpec:
    """A table spec by logical name (``"startups"``) and naming template."""
    for spec in TABLES:
        if spec.name == name and spec.physical == physical:
            return spec
    raise KeyError(f"no table {name!r}")


def entity(name: str) -> EntitySpec:
    """An entity spec by name (``"startup_metric"``)."""
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(sorted(ENTITIES))}") from None


def table_of_entity(name: str) -> TableSpec:
    entity(name)
    return _TABLE_OF_ENTITY[name]


def resolve(table_name: str) -> tuple[TableSpec, str]:
    """Spec and environment of a physical table name (``auxeira-users-prod``)."""
    return resolve_table(TABLES, table_name)
