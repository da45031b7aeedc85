"""Lake shapes: the structure of free-form ``Json`` fields where the seeds nest.

The entity models keep these fields as ``Json`` (a map of anything): the platform writes
them whole and the write path validates nothing inside. Analysts want typed columns, so
the lake reads them as structs with the fields seed ``000`` shows (a startup's
``financial_metrics``, ``traction_metrics``, ...). A key a shape does not name, or a
value that does not fit its type, is never dropped: it lands in the row's ``_extra``.
Lists of maps (``funding_history``) stay JSON text: a struct of a list's members would
have nowhere to put a member's unknown key.

Adding a field here adds a nullable struct field; removing or retyping one is refused
like any column change (:mod:`glue_jobs.evolution`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["SHAPES"]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FinancialMetrics(_Shape):
    total_funding_raised: float | None = None
    last_funding_round: str | None = None
    last_funding_date: date | None = None
    last_funding_amount: float | None = None
    valuation: float | None = None
    mrr: float | None = None
    arr: float | None = None
    revenue_last_month: float | None = None
    revenue_last_quarter: float | None = None
    revenue_last_year: float | None = None
    gross_margin: float | None = None
    net_margin: float | None = None
    ebitda: float | None = None
    cash_balance: float | None = None
    monthly_burn_rate: float | None = None
    runway_months: float | None = None
    cac: float | None = None
    ltv: float | None = None
    ltv_cac_ratio: float | None = None
    churn_rate: float | None = None
    nrr: float | None = None
    arr_growth_rate: float | None = None
    payback_period: float | None = None


class ProductMarket(_Shape):
    product_description: str | None = None
    target_market: str | None = None
    business_model: str | None = None
    market_size_tam: float | None = None
    market_size_sam: float | None = None
    market_size_som: float | None = None
    competitive_advantages: list[str] | None = None
    key_competitors: list[str] | None = None
    unique_value_proposition: str | None = None
    technology_stack: list[str] | None = None
    ip_patents: list[str] | None = None


class TractionMetrics(_Shape):
    total_users: int | None = None
    active_users_monthly: int | None = None
    active_users_daily: int | None = None
    total_customers: int | None = None
    user_growth_rate: float | None = None
    customer_retention_rate: float | None = None
    nps_score: float | None = None
    customer_satisfaction_score: float | None = None
    product_market_fit_score: float | None = None


class FundingInvestors(_Shape):
    total_funding_rounds: int | None = None
    investors: list[str] | None = None
    lead_investors: list[str] | None = None
    angel_investors: list[str] | None = None
    vc_firms: list[str] | None = None
    funding_history: list[dict[str, Any]] | None = None


class DiversityMetrics(_Shape):
    gender_diversity: float | None = None
    ethnic_diversity: float | None = None
    leadership_diversity: float | None = None


class EsgSseMetrics(_Shape):
    sdg_alignment: list[int] | None = None
    environmental_impact_score: float | None = None
    social_impact_score: float | None = None
    governance_score: float | None = None
    carbon_footprint: float | None = None
    diversity_metrics: DiversityMetrics | None = None
    community_impact_metrics: dict[str, Any] | None = None


class PlatformSubscription(_Shape):
    subscription_tier: str | None = None
    subscription_status: str | None = None
    subscription_start_date: date | None = None
    subscription_end_date: date | None = None
    subscription_mrr: float | None = None
    aux_token_balance: int | None = None
    aux_tokens_earned_total: int | None = None
    aux_tokens_spent_total: int | None = None
    partner_tier: str | None = None
    partner_tier_progress: float | None = None


#: entity -> dotted path of a ``Json`` field -> its shape.
SHAPES: dict[str, dict[str, type[BaseModel]]] = {
    "startup": {
        "financial_metrics": FinancialMetrics,
        "product_market": ProductMarket,
        "traction_metrics": TractionMetrics,
        "funding_investors": FundingInvestors,
        "esg_sse_metrics": EsgSseMetrics,
        "platform_subscription": PlatformSubscription,
    },
}
