"""Entity models of the 17 Auxeira tables (seed ``000_1f6a720c9f9e1ad8.txt``).

Where the seed nests an attribute that a GSI needs (``classification.industry``), the
model lifts it to the top level: DynamoDB index keys must be top-level attributes.
Attributes the seed only names for tables 6-17 are designed here for the platform's
access patterns; their specs in :mod:`schemas.catalog` say which GSI serves which.
"""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime
from typing import Literal

from pydantic import Field

from schemas.entities.base import EntityModel, Json, TenantModel

__all__ = [
    "USER_TYPES",
    "Activity",
    "ActivitySubmission",
    "CatalogActivity",
    "ChatbotConversation",
    "ChatbotMessage",
    "CompanyDetails",
    "Document",
    "Event",
    "EventRegistration",
    "InvestorMatch",
    "Notification",
    "Partner",
    "PartnerActivation",
    "PeerAssessment",
    "ReadinessItem",
    "Startup",
    "StartupMetric",
    "User",
    "UserSession",
    "UserStartup",
]

USER_TYPES = (
    "startup_founder",
    "venture_capital",
    "angel_investor",
    "corporate_partner",
    "government",
    "esg_funder",
    "impact_investor",
    "admin",
)
UserType = Literal[
    "startup_founder",
    "venture_capital",
    "angel_investor",
    "corporate_partner",
    "government",
    "esg_funder",
    "impact_investor",
    "admin",
]
Stage = Literal["Idea", "Pre-Seed", "Seed", "Series A", "Series B", "Series C", "Growth"]


class User(TenantModel):
    user_id: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    password_hash: str | None = None
    full_name: str
    phone_number: str | None = None
    user_type: UserType
    company_name: str | None = None
    job_title: str | None = None
    linkedin_url: str | None = None
    twitter_handle: str | None = None
    profile_photo_url: str | None = None
    timezone: str | None = None
    language_preference: str | None = None
    email_verified: bool = False
    phone_verified: bool = False
    onboarding_completed: bool = False
    onboarding_step: int | None = None
    referral_source: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    mfa_secret: str | None = None
    last_login: datetime | None = None
    status: Literal["active", "invited", "suspended", "deleted"] = "active"


class CompanyDetails(EntityModel):
    legal_name: str | None = None
    incorporation_country: str | None = None
    incorporation_date: Date | None = None
    company_registration_number: str | None = None
    tax_id: str | None = None
    headquarters_address: Json | None = None
    website_url: str | None = None
    logo_url: str | None = None
    founded_date: Date | None = None
    business_model: str | None = None


class Startup(TenantModel):
    startup_id: str
    company_name: str = Field(min_length=1)
    tagline: str | None = None
    elevator_pitch: str | None = None
    description: str | None = None
    industry: str
    stage: Stage
    sse_score: int = Field(ge=0, le=100)
    funding_readiness_score: int | None = Field(default=None, ge=0, le=100)
    company_details: CompanyDetails | None = None
    financial_metrics: Json | None = None
    product_market: Json | None = None
    team_operations: Json | None = None
    traction_metrics: Json | None = None
    funding_investors: Json | None = None
    esg_sse_metrics: Json | None = None
    platform_subscription: Json | None = None
    last_metric_update: datetime | None = None


class StartupMetric(TenantModel):
    startup_id: str
    date: Date
    mrr: float | None = Field(default=None, ge=0)
    arr: float | None = Field(default=None, ge=0)
    total_customers: int | None = Field(default=None, ge=0)
    active_users_monthly: int | None = Field(default=None, ge=0)
    churn_rate: float | None = Field(default=None, ge=0, le=1)
    nrr: float | None = None
    cac: float | None = None
    ltv: float | None = None
    sse_score: int | None = Field(default=None, ge=0, le=100)
    cash_balance: float | None = None
    burn_rate: float | None = None
    runway_months: float | None = None
    team_size: int | None = Field(default=None, ge=0)


class Activity(TenantModel):
    activity_id: str
    startup_id: str
    user_id: str
    timestamp: datetime
    activity_type: str
    activity_category: str | None = None
    activity_subcategory: str | None = None
    activity_description: str | None = None
    activity_value: float | None = None
    previous_value: float | None = None
    activity_metadata: Json | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    device_type: str | None = None
    browser: str | None = None
    location: Json | None = None
    session_id: str | None = None
    aux_tokens_earned: int = Field(default=0, ge=0)
    aux_tokens_spent: int = Field(default=0, ge=0)


class Document(TenantModel):
    document_id: str
    startup_id: str
    user_id: str
    document_type: str
    document_name: str
    document_description: str | None = None
    file_size_bytes: int | None = Field(default=None, ge=0)
    file_format: str | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None
    upload_date: datetime | None = None
    version_number: int = 1
    is_latest_version: bool = True
    access_level: Literal["private", "team", "investors", "public"] = "private"
    download_count: int = 0
    view_count: int = 0
    shared_with: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    ai_extracted_data: Json | None = None


class ChatbotConversation(TenantModel):
    conversation_id: str
    startup_id: str
    user_id: str
    started_at: datetime
    topic: str | None = None
    ttl: int | None = None


class ChatbotMessage(TenantModel):
    conversation_id: str
    message_id: str
    startup_id: str
    user_id: str
    message_timestamp: datetime
    message_sender: Literal["user", "assistant", "human_agent"]
    message_text: str
    message_intent: str | None = None
    message_entities: Json | None = None
    message_sentiment: Literal["positive", "neutral", "negative"] | None = None
    ai_response: str | None = None
    ai_confidence_score: float | None = Field(default=None, ge=0, le=1)
    user_satisfaction: str | None = None
    aux_tokens_awarded: int = Field(default=0, ge=0)
    follow_up_required: bool = False
    escalated_to_human: bool = False
    ttl: int | None = None


class ActivitySubmission(TenantModel):
    submission_id: str
    activity_type_id: str
    startup_id: str
    user_id: str
    status: Literal["submitted", "under_review", "approved", "rejected"] = "submitted"
    submitted_at: datetime
    proof_url: str | None = None
    notes: str | None = None
    aux_tokens_awarded: int = Field(default=0, ge=0)


class PeerAssessment(TenantModel):
    submission_id: str
    assessor_id: str
    score: int = Field(ge=1, le=5)
    comments: str | None = None
    assessed_at: datetime


class Event(TenantModel):
    event_id: str
    title: str
    description: str | None = None
    event_type: str
    starts_at: datetime
    ends_at: datetime | None = None
    location: str | None = None
    is_virtual: bool = False
    capacity: int | None = Field(default=None, ge=0)
    tags: list[str] = Field(default_factory=list)


class EventRegistration(TenantModel):
    event_id: str
    user_id: str
    startup_id: str | None = None
    status: Literal["registered", "waitlisted", "attended", "cancelled"] = "registered"
    registered_at: datetime


class Partner(TenantModel):
    partner_id: str
    name: str
    description: str | None = None
    category: str
    offering: str | None = None
    tier: Literal["Bronze", "Silver", "Gold", "Platinum"] | None = None
    contact_email: str | None = None
    api_key: str | None = None


class PartnerActivation(TenantModel):
    partner_id: str
    activation_id: str
    startup_id: str
    user_id: str
    benefit: str
    status: Literal["pending", "active", "redeemed", "expired"] = "pending"
    activated_at: datetime
    redemption_code: str | None = None
    value_usd: float | None = Field(default=None, ge=0)


class InvestorMatch(TenantModel):
    startup_id: str
    investor_id: str
    match_score: float = Field(ge=0, le=1)
    status: Literal["suggested", "intro_requested", "connected", "passed"] = "suggested"
    reasons: list[str] = Field(default_factory=list)
    matched_at: datetime


class ReadinessItem(TenantModel):
    startup_id: str
    item_id: str
    category: str
    title: str
    weight: float = Field(default=1.0, ge=0)
    completed: bool = False
    completed_at: datetime | None = None


class Notification(TenantModel):
    user_id: str
    notification_id: str
    created_on: datetime
    notification_type: str
    title: str
    body: str | None = None
    read: bool = False
    ttl: int | None = None


class UserSession(TenantModel):
    user_id: str
    session_id: str
    started_at: datetime
    ended_at: datetime | None = None
    device_type: str | None = None
    ip_address: str | None = None
    session_token: str | None = None
    page_views: int = Field(default=0, ge=0)
    ttl: int | None = None


class UserStartup(TenantModel):
    user_id: str
    startup_id: str
    role: Literal["founder", "cofounder", "employee", "advisor", "investor", "mentor"]
    is_primary: bool = False


class CatalogActivity(TenantModel):
    activity_type_id: str
    name: str
    description: str | None = None
    category: str
    aux_tokens_reward: int = Field(default=0, ge=0)
    active: bool = True
