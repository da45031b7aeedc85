"""Realistic, internally consistent startups and their ``METRICS#date`` series (seed ``000``).

Pure. The invariants every generated startup keeps, at every point and in its profile:

* ``arr == 12 * mrr`` (whole dollars, so exactly);
* ``runway_months == round(cash_balance / burn_rate, 1)``; cash falls by the burn between
  points and never below zero, and burn is what payroll, opex and growth spend (a share
  of revenue) cost beyond gross profit, at least a tenth of costs;
* ``ltv == arpa * gross_margin / churn_rate`` and the profile's ``ltv_cac_ratio == ltv / cac``;
* customers are MRR over average revenue per account, active users a multiple of them;
* ``stage`` is the last round of ``funding_history`` (``Idea`` when there is none), rounds
  in stage order with increasing dates, all before the series starts, and
  ``total_funding_raised`` their sum.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from producers.synthetic import names, trends
from producers.synthetic.config import SyntheticDataConfig
from producers.synthetic.dashboards import SNAPSHOT_TIME, point_dates

__all__ = ["STAGES", "StartupSeries", "build_startup", "stage_of_history"]

STAGES = ("Idea", "Pre-Seed", "Seed", "Series A", "Series B", "Series C", "Growth")


@dataclass(frozen=True)
class _Stage:
    weight: float
    round_usd: tuple[float, float]
    mrr: tuple[float, float]
    team: tuple[int, int]
    cost_per_head: tuple[float, float]


_STAGE = {
    "Idea": _Stage(0.08, (0, 0), (500, 5_000), (1, 3), (1_000, 4_000)),
    "Pre-Seed": _Stage(0.22, (150_000, 1_000_000), (2_000, 25_000), (2, 6), (4_000, 9_000)),
    "Seed": _Stage(0.32, (750_000, 3_000_000), (10_000, 90_000), (4, 15), (6_000, 11_000)),
    "Series A": _Stage(0.22, (3e6, 15e6), (60_000, 400_000), (12, 45), (8_000, 13_000)),
    "Series B": _Stage(0.11, (15e6, 50e6), (300_000, 1_500_000), (40, 150), (9_000, 14_000)),
    "Series C": _Stage(0.04, (30e6, 100e6), (1e6, 4e6), (120, 400), (10_000, 15_000)),
    "Growth": _Stage(0.01, (50e6, 200e6), (3e6, 10e6), (300, 1_000), (10_000, 15_000)),
}
#: business model -> (revenue per account per month, gross margin, seats per account)
_MODELS = {
    "B2B SaaS": ((200, 3_000), (0.70, 0.85), (5, 40)),
    "B2C Subscription": ((8, 40), (0.60, 0.80), (1, 1)),
    "Marketplace": ((40, 400), (0.35, 0.60), (1, 3)),
    "Hardware + SaaS": ((300, 2_500), (0.30, 0.50), (3, 15)),
}


@dataclass(frozen=True)
class StartupSeries:
    """One startup: its founder, profile at the first point, metrics, and the update that
    brings the profile to the last point (the plan adds the aux-token totals to it)."""

    startup_id: str
    founder: dict[str, Any]
    profile: dict[str, Any]
    metrics: list[dict[str, Any]]
    latest: dict[str, Any]
    trend: str


def stage_of_history(history: Sequence[dict[str, Any]]) -> str:
    """The stage a funding history implies; raises ValueError if the history is out of order."""
    order = [STAGES.index(r["round"]) for r in history]
    dates = [r["date"] for r in history]
    if order != sorted(set(order)) or dates != sorted(set(dates)):
        raise ValueError(f"rounds out of order: {[(r['round'], r['date']) for r in history]}")
    return history[-1]["round"] if history else "Idea"


def build_startup(config: SyntheticDataConfig, *, tenant_id: str, as_of: date) -> StartupSeries:
    """A startup whose series follows ``config.trend`` over ``config``'s points; the same
    ``config.seed`` gives the same startup."""
    rng = random.Random(config.seed)
    stage = rng.choices(STAGES, weights=[_STAGE[s].weight for s in STAGES])[0]
    startup_id, founder_id = names.seeded_uuid(rng), names.seeded_uuid(rng)
    company, industry = names.company_name(rng), rng.choice(names.INDUSTRIES)
    model = rng.choice(tuple(_MODELS))
    days = point_dates(config, as_of)
    history = _funding_history(rng, stage, days[0])
    static = _static_finance(rng, stage, model, history)
    metrics = _metrics(rng, config, stage, model, static, tenant_id, startup_id, days)
    founder = _founder(rng, tenant_id, founder_id, company, as_of)
    profile = {
        "tenant_id": tenant_id,
        "startup_id": startup_id,
        "company_name": company,
        "tagline": f"{industry} for the next billion users",
        "industry": industry,
        "stage": stage,
        "elevator_pitch": f"{company} helps {industry.lower()} teams grow with {model.lower()}",
        "description": f"{company} is a {stage} {industry} company ({model}).",
        "company_details": _company_details(rng, company, model, history, days[0]),
        "funding_investors": _investors(history),
        "product_market": {"business_model": model, "market_size_tam": rng.randrange(1, 200) * 10**9},
        "esg_sse_metrics": _esg(rng),
        **_snapshot(metrics[0], static),
    }
    latest = _snapshot(metrics[-1], static)
    latest["last_metric_update"] = datetime.combine(days[-1], SNAPSHOT_TIME)
    return StartupSeries(startup_id, founder, profile, metrics, latest, config.trend)


def _funding_history(rng: random.Random, stage: str, series_start: date) -> list[dict[str, Any]]:
    top = STAGES.index(stage)
    if top == 0:
        return []
    first = 2 if top >= 2 and rng.random() < 0.3 else 1  # some start at Seed
    when = series_start - timedelta(days=rng.randint(30, 540))
    rounds = []
    for name in reversed(STAGES[first : top + 1]):
        low, high = _STAGE[name].round_usd
        lead, *others = rng.sample(names.INVESTOR_FIRMS, rng.randint(1, 3))
        rounds.append(
            {
                "date": when.isoformat(),
                "round": name,
                "amount": round(rng.uniform(low, high), -3),
                "investors": [lead, *others],
            }
        )
        when -= timedelta(days=rng.randint(240, 600))
    return rounds[::-1]


def _static_finance(rng: random.Random, stage: str, model: str, history: list[dict[str, Any]]) -> dict[str, Any]:
    arpa, margin, seats = _MODELS[model]
    last = history[-1] if history else None
    cash0 = last["amount"] * rng.uniform(0.45, 0.95) if last else rng.uniform(20_000, 150_000)
    out = {
        "arpa": rng.uniform(*arpa),
        "gross_margin": round(rng.uniform(*margin), 2),
        "seats": rng.randint(*seats),
        "active_ratio": rng.uniform(0.55, 0.9),
        "cost_per_head": rng.uniform(*_STAGE[stage].cost_per_head),
        "opex_ratio": rng.uniform(0.1, 0.3),
        "growth_spend": rng.uniform(0.25, 0.6),
        "cash0": cash0,
        "total_funding_raised": sum(r["amount"] for r in history),
    }
    if last:
        out.update(
            last_funding_round=last["round"],
            last_funding_date=last["date"],
            last_funding_amount=last["amount"],
            valuation=round(last["amount"] / rng.uniform(0.12, 0.25), -3),
        )
    return out


def _metrics(
    rng: random.Random,
    config: SyntheticDataConfig,
    stage: str,
    model: str,
    static: dict[str, Any],
    tenant_id: str,
    startup_id: str,
    days: list[date],
) -> list[dict[str, Any]]:
    offsets = [(d - days[0]).days for d in days]
    p, trend, var = _STAGE[stage], config.trend, config.variance
    mrr = trends.series(rng, offsets, start=rng.uniform(*p.mrr), trend=trend, variance=var)
    arpa = trends.series(rng, offsets, start=static["arpa"], trend="stable", variance=var / 2)
    churn = trends.series(
        rng, offsets, start=rng.uniform(0.01, 0.07), trend=trend, variance=var, direction=-1, lower=0.002, upper=0.5
    )
    cac_ratio = rng.uniform(1.5, 6.0)  # LTV/CAC at the first point
    cac = trends.series(
        rng,
        offsets,
        start=static["arpa"] * static["gross_margin"] / churn[0] / cac_ratio,
        trend=trend,
        variance=var,
        direction=-1,
        lower=1.0,
    )
    expansion = trends.series(
        rng, offsets, start=rng.uniform(0.005, 0.04), trend=trend, variance=var, scale=0.02, lower=0.0, upper=0.2
    )
    team = trends.integer_series(rng, offsets, start=rng.randint(*p.team), trend=trend, variance=var, lower=1)
    sse = trends.integer_series(
        rng, offsets, start=rng.randint(35, 80), trend=trend, variance=var, scale=50.0, lower=0, upper=100
    )
    cash = float(static["cash0"])
    out: list[dict[str, Any]] = []
    for i, day in enumerate(days):
        monthly = max(1, round(mrr[i]))
        expenses = team[i] * static["cost_per_head"] * (1 + static["opex_ratio"]) + monthly * static["growth_spend"]
        burn = max(1, round(max(expenses - monthly * static["gross_margin"], 0.1 * expenses)))
        if i:
            cash = max(0.0, cash - out[-1]["burn_rate"] * (offsets[i] - offsets[i - 1]) / 30)
        customers = max(1, round(monthly / arpa[i]))
        out.append(
            {
                "tenant_id": tenant_id,
                "startup_id": startup_id,
                "date": day.isoformat(),
                "mrr": monthly,
                "arr": 12 * monthly,
                "total_customers": customers,
                "active_users_monthly": round(customers * static["seats"] * static["active_ratio"]),
                "churn_rate": round(churn[i], 4),
                "nrr": round((1 + expansion[i] - churn[i]) ** 12, 3),
                "cac": round(cac[i], 2),
                "ltv": round(arpa[i] * static["gross_margin"] / churn[i], 2),
                "sse_score": sse[i],
                "cash_balance": round(cash),
                "burn_rate": burn,
                "runway_months": round(round(cash) / burn, 1),
                "team_size": team[i],
            }
        )
    return out


def _snapshot(point: dict[str, Any], static: dict[str, Any]) -> dict[str, Any]:
    """Profile attributes as of one metric point."""
    finance_keys = ("mrr", "arr", "cash_balance", "runway_months", "cac", "ltv", "churn_rate", "nrr")
    financial = {k: point[k] for k in finance_keys}
    financial.update(
        revenue_last_month=point["mrr"],
        monthly_burn_rate=point["burn_rate"],
        ltv_cac_ratio=round(point["ltv"] / point["cac"], 2),
        gross_margin=static["gross_margin"],
        **{
            k: static[k]
            for k in (
                "total_funding_raised",
                "last_funding_round",
                "last_funding_date",
                "last_funding_amount",
                "valuation",
            )
            if k in static
        },
    )
    return {
        "sse_score": point["sse_score"],
        "funding_readiness_score": max(0, min(100, point["sse_score"] - 6)),
        "financial_metrics": financial,
        "traction_metrics": {
            "total_customers": point["total_customers"],
            "active_users_monthly": point["active_users_monthly"],
            "customer_retention_rate": round(1 - point["churn_rate"], 4),
        },
        "team_operations": {"total_employees": point["team_size"]},
    }


def _company_details(
    rng: random.Random, company: str, model: str, history: list[dict[str, Any]], series_start: date
) -> dict[str, Any]:
    first = date.fromisoformat(history[0]["date"]) if history else series_start
    founded = first - timedelta(days=rng.randint(60, 700))
    city, country = rng.choice(names.CITIES)
    return {
        "legal_name": f"{company} Inc.",
        "incorporation_country": country,
        "incorporation_date": (founded + timedelta(days=rng.randint(0, 90))).isoformat(),
        "company_registration_number": f"RC-{rng.randrange(10**8):08d}",
        "tax_id": f"{rng.randrange(10**2):02d}-{rng.randrange(10**7):07d}",
        "headquarters_address": {"city": city, "country": country},
        "website_url": f"https://{names.slug(company)}.example",
        "founded_date": founded.isoformat(),
        "business_model": model,
    }


def _investors(history: list[dict[str, Any]]) -> dict[str, Any]:
    investors = list(dict.fromkeys(i for r in history for i in r["investors"]))
    return {
        "total_funding_rounds": len(history),
        "investors": investors,
        "lead_investors": list(dict.fromkeys(r["investors"][0] for r in history)),
        "funding_history": history,
    }


def _esg(rng: random.Random) -> dict[str, Any]:
    return {
        "sdg_alignment": sorted(rng.sample(range(1, 18), rng.randint(1, 3))),
        "environmental_impact_score": rng.randint(40, 95),
        "social_impact_score": rng.randint(40, 95),
        "governance_score": rng.randint(40, 95),
        "diversity_metrics": {"gender_diversity": round(rng.uniform(0.1, 0.6), 2)},
    }


def _founder(rng: random.Random, tenant_id: str, user_id: str, company: str, as_of: date) -> dict[str, Any]:
    full = names.person_name(rng)
    return {
        "tenant_id": tenant_id,
        "user_id": user_id,
        "full_name": full,
        "user_type": "startup_founder",
        "email": f"{names.slug(full).replace('-', '.')}@{names.slug(company)}.example",
        "password_hash": "$2b$12$" + f"{rng.getrandbits(212):053x}",
        "company_name": company,
        "job_title": "CEO & Founder",
        "email_verified": True,
        "onboarding_completed": True,
        "onboarding_step": 5,
        "referral_source": rng.choice(("google_ads", "referral", "event", "linkedin")),
        "last_login": datetime.combine(as_of, SNAPSHOT_TIME) - timedelta(minutes=rng.randint(0, 4_000)),
    }
