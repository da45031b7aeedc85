"""The published (table-less) events the seeds describe, registered in ``REGISTRY``.

Seed ``000`` section 4.1 lists the sources with no table of their own: behavioural
tracking (event listeners, analytics), the chatbot's NLP extraction, and scheduled
third-party syncs (Stripe, ...); seed ``001`` adds the QuickBooks integration and
gamification (``POST /api/gamification/action``: token rewards with multipliers and
streaks). Field names follow the seeds' tables where they overlap (``message_intent``,
``message_entities``, ``message_sentiment``, ``aux_tokens_awarded``, ``mrr``/``arr``).

Cross-field rules are validators on the later field, so an error names that field:
``arr == 12 * mrr``; ``net_income == revenue - expenses``; ``runway_months ==
cash_balance / burn_rate``; ``aux_tokens_awarded == round(base_tokens * multiplier)``.

No personal data beyond ids: tracking events carry no IP address or user agent (the
``activities`` table holds those, classified ``pii``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from schemas.entities.auxeira import UserType
from schemas.entities.base import Json
from schemas.events.registry import PublishedEvent, register

__all__ = [
    "ChatbotTurn",
    "DashboardMetricRecorded",
    "FeatureUse",
    "GamificationAction",
    "PageView",
    "QuickBooksSync",
    "StripeMrrSync",
]

Id = Annotated[str, Field(min_length=1, max_length=128)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
# Relative tolerance of derived figures (money arrives as floats rounded to cents).
_TOLERANCE = 0.005


def _close(actual: float, expected: float) -> bool:
    return abs(actual - expected) <= _TOLERANCE * max(1.0, abs(expected))


class _Tracking(PublishedEvent):
    """Fields every behavioural-tracking event carries: who, in which session, on which dashboard."""

    actor_field = "user_id"

    tenant_id: Id
    user_id: Id
    session_id: str | None = None
    startup_id: str | None = None
    dashboard: UserType | None = None
    duration_ms: int | None = Field(default=None, ge=0)
    properties: Json = Field(default_factory=dict)


@register
class PageView(_Tracking):
    """A dashboard page was viewed (behavioural tracking)."""

    entity = "page_view"
    key_fields = ("view_id",)

    view_id: Id
    path: str = Field(min_length=1, max_length=2048, pattern=r"^/")
    title: str | None = None
    referrer: str | None = None
    device_type: Literal["desktop", "mobile", "tablet"] | None = None
    browser: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None


@register
class FeatureUse(_Tracking):
    """A feature was used: the SSE calculator run, a report exported (behavioural tracking)."""

    entity = "feature_use"
    key_fields = ("usage_id",)

    usage_id: Id
    feature: str = Field(min_length=1, max_length=128, pattern=r"^[a-z][a-z0-9_.]*$")
    action: Literal["opened", "used", "completed", "dismissed", "failed"] = "used"


@register
class ChatbotTurn(PublishedEvent):
    """One chatbot message with what the NLP extracted from it: intent, entities, sentiment."""

    entity = "chatbot_turn"
    key_fields = ("conversation_id", "message_id")
    actor_field = "user_id"

    conversation_id: Id
    message_id: Id
    tenant_id: Id
    startup_id: Id
    user_id: Id
    message_sender: Literal["user", "assistant", "human_agent"]
    message_text: str
    message_intent: str | None = None
    message_entities: Json = Field(default_factory=dict)
    message_sentiment: Literal["positive", "neutral", "negative"] | None = None
    sentiment_score: float | None = Field(default=None, ge=-1, le=1)
    ai_response: str | None = None
    ai_confidence_score: float | None = Field(default=None, ge=0, le=1)
    aux_tokens_awarded: int = Field(default=0, ge=0)
    follow_up_required: bool = False
    escalated_to_human: bool = False


@register
class StripeMrrSync(PublishedEvent):
    """A startup's subscription revenue as Stripe reported it; the latest sync wins."""

    entity = "stripe_mrr_sync"
    key_fields = ("startup_id",)
    id_fields = ("sync_id",)
    kind = "state"

    sync_id: Id
    tenant_id: Id
    startup_id: Id
    stripe_account_id: Id
    currency: Currency = "USD"
    mrr: float = Field(ge=0)
    arr: float = Field(ge=0)
    active_subscriptions: int = Field(ge=0)
    total_customers: int = Field(ge=0)
    new_mrr: float = Field(default=0, ge=0)
    expansion_mrr: float = Field(default=0, ge=0)
    churned_mrr: float = Field(default=0, ge=0)
    plans: list[Json] = Field(default_factory=list)

    @field_validator("arr")
    @classmethod
    def _arr_is_twelve_mrr(cls, arr: float, info: ValidationInfo) -> float:
        mrr = info.data.get("mrr")
        if mrr is not None and not _close(arr, 12 * mrr):
            raise ValueError(f"must be 12 x mrr ({12 * mrr:.2f}), got {arr:.2f}")
        return arr


@register
class QuickBooksSync(PublishedEvent):
    """A startup's books for one period as QuickBooks reported them; the latest sync wins."""

    entity = "quickbooks_sync"
    key_fields = ("startup_id",)
    id_fields = ("sync_id",)
    kind = "state"

    sync_id: Id
    tenant_id: Id
    startup_id: Id
    realm_id: Id
    currency: Currency = "USD"
    period_start: date
    period_end: date
    revenue: float = Field(ge=0)
    expenses: float = Field(ge=0)
    net_income: float
    cash_balance: float
    accounts_receivable: float = Field(default=0, ge=0)
    accounts_payable: float = Field(default=0, ge=0)
    burn_rate: float | None = Field(default=None, ge=0)
    runway_months: float | None = Field(default=None, ge=0)
    line_items: list[Json] = Field(default_factory=list)

    @field_validator("period_end")
    @classmethod
    def _period_ends_after_start(cls, end: date, info: ValidationInfo) -> date:
        start = info.data.get("period_start")
        if start is not None and end < start:
            raise ValueError(f"must not be before period_start ({start})")
        return end

    @field_validator("net_income")
    @classmethod
    def _net_income_is_revenue_less_expenses(cls, net: float, info: ValidationInfo) -> float:
        revenue, expenses = info.data.get("revenue"), info.data.get("expenses")
        if revenue is not None and expenses is not None and not _close(net, revenue - expenses):
            raise ValueError(f"must be revenue - expenses ({revenue - expenses:.2f}), got {net:.2f}")
        return net

    @field_validator("runway_months")
    @classmethod
    def _runway_is_cash_over_burn(cls, runway: float | None, info: ValidationInfo) -> float | None:
        cash, burn = info.data.get("cash_balance"), info.data.get("burn_rate")
        if runway is not None and cash is not None and burn and not _close(runway, cash / burn):
            raise ValueError(f"must be cash_balance / burn_rate ({cash / burn:.2f}), got {runway:.2f}")
        return runway


@register
class GamificationAction(PublishedEvent):
    """A user action that earned aux tokens (with the streak multiplier applied)."""

    entity = "gamification_action"
    key_fields = ("action_id",)
    actor_field = "user_id"

    action_id: Id
    tenant_id: Id
    user_id: Id
    startup_id: str | None = None
    action_type: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    base_tokens: int = Field(ge=0)
    multiplier: float = Field(default=1.0, ge=1, le=10)
    streak_days: int = Field(default=0, ge=0)
    aux_tokens_awarded: int = Field(ge=0)
    achievement: str | None = None

    @field_validator("aux_tokens_awarded")
    @classmethod
    def _awarded_is_base_times_multiplier(cls, awarded: int, info: ValidationInfo) -> int:
        base, multiplier = info.data.get("base_tokens"), info.data.get("multiplier")
        if base is not None and multiplier is not None and awarded != round(base * multiplier):
            expected = round(base * multiplier)
            raise ValueError(f"must be round(base_tokens x multiplier) = {expected}, got {awarded}")
        return awarded


@register
class DashboardMetricRecorded(PublishedEvent):
    """One timestamped value on a dashboard of one of the seven user types (seed 001).

    A *state*: keyed by subject and metric, so a projection keeps the latest observation;
    its own id adds ``occurred_at``, so re-publishing the same point gives the same event id.
    """

    entity = "dashboard_metric"
    key_fields = ("subject_id", "metric")
    id_fields = ("subject_id", "metric", "occurred_at")
    kind = "state"

    tenant_id: Id
    user_type: UserType
    subject_id: Id
    metric: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    value: float
    unit: str = Field(min_length=1, max_length=16)
