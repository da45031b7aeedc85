"""Timestamped dashboard metrics of the seven user types (seed ``001``, "Data Types Supported").

Pure: a :class:`~producers.synthetic.config.SyntheticDataConfig` in, a list of
:class:`DashboardMetric` out, the same list for the same seed.

Where they land: a founder's dashboard *is* the startup's ``METRICS#date`` items
(:mod:`producers.synthetic.startups` builds them internally consistent, and
:func:`founder_view` reads the five dashboard metrics off one). The other six dashboards
have no table behind them, so the workload publishes their points as events through the
publisher (:mod:`producers.synthetic.workload`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypedDict

from producers.synthetic import trends
from producers.synthetic.config import SyntheticDataConfig, Trend

__all__ = [
    "FOUNDER_FIELDS",
    "METRICS",
    "DashboardMetric",
    "MetricSpec",
    "founder_view",
    "generate_dashboard",
    "point_dates",
]

#: Dashboards refresh from a nightly job: every point is stamped at this time of day (UTC).
SNAPSHOT_TIME = time(6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class MetricSpec:
    """One dashboard metric and how it moves.

    Args:
        name: snake_case metric name.
        unit: ``usd``, ``count``, ``score`` (0-100), ``percent``, ``ratio``, ``tco2e``.
        low, high: range the first value is drawn from.
        direction: +1 when higher is better, -1 when lower is (burn rate).
        scale: None for a level that changes by percentages; otherwise an additive series
            (see :func:`producers.synthetic.trends.series`).
        integer: whole numbers (counts, scores).
        bounds: clamp range.
    """

    name: str
    unit: str
    low: float
    high: float
    direction: int = 1
    scale: float | None = None
    integer: bool = False
    bounds: tuple[float | None, float | None] = (0.0, None)


def _count(name: str, low: float, high: float) -> MetricSpec:
    return MetricSpec(name, "count", low, high, integer=True)


def _score(name: str, low: float, high: float) -> MetricSpec:
    return MetricSpec(name, "score", low, high, scale=50.0, integer=True, bounds=(0, 100))


METRICS: dict[str, tuple[MetricSpec, ...]] = {
    "startup_founder": (
        _score("sse_score", 35, 85),
        MetricSpec("revenue", "usd", 5_000, 400_000),
        _count("customers", 20, 2_000),
        _count("team_size", 3, 40),
        MetricSpec("burn_rate", "usd", 20_000, 200_000, direction=-1),
    ),
    "venture_capital": (
        _count("portfolio_size", 8, 60),
        MetricSpec("aum", "usd", 50e6, 1.5e9),
        _count("deal_flow", 20, 400),
        _count("exits", 0, 12),
    ),
    "angel_investor": (
        _count("investments", 3, 40),
        MetricSpec("total_invested", "usd", 100_000, 5e6),
        MetricSpec("irr", "percent", -5.0, 35.0, scale=20.0, bounds=(-100.0, None)),
    ),
    "corporate_partner": (
        _count("active_partnerships", 2, 40),
        MetricSpec("roi", "percent", 5.0, 80.0, scale=25.0, bounds=(-100.0, None)),
        _count("pilots", 1, 15),
    ),
    "government": (
        _count("startups_monitored", 50, 2_000),
        MetricSpec("grants", "usd", 250_000, 20e6),
        MetricSpec("economic_impact", "usd", 1e6, 200e6),
    ),
    "esg_funder": (
        _score("esg_score", 45, 85),
        MetricSpec("carbon_reduction", "tco2e", 100, 50_000),
    ),
    "impact_investor": (
        MetricSpec("social_roi", "ratio", 1.2, 6.0, scale=2.0, bounds=(0.0, None)),
        _count("lives_impacted", 1_000, 500_000),
        _score("sdg_alignment", 40, 90),
    ),
}

#: Founder dashboard metric -> the ``startup_metric`` attribute that holds it.
FOUNDER_FIELDS: dict[str, str] = {
    "sse_score": "sse_score",
    "revenue": "mrr",
    "customers": "total_customers",
    "team_size": "team_size",
    "burn_rate": "burn_rate",
}


@dataclass(frozen=True)
class DashboardMetric:
    """One timestamped value of one metric on one subject's dashboard."""

    tenant_id: str
    user_type: str
    subject_id: str
    metric: str
    value: float  # an int for counts and scores
    unit: str
    recorded_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "user_type": self.user_type,
            "subject_id": self.subject_id,
            "metric": self.metric,
            "value": self.value,
            "unit": self.unit,
            "recorded_at": self.recorded_at,
        }


def point_dates(config: SyntheticDataConfig, as_of: date) -> list[date]:
    """The days of the config's points; the last is ``as_of``."""
    first = as_of - timedelta(days=config.time_range_days)
    return [first + timedelta(days=d) for d in trends.offsets(config.count, config.time_range_days)]


def generate_dashboard(
    config: SyntheticDataConfig, *, tenant_id: str, subject_id: str, as_of: date
) -> list[DashboardMetric]:
    """Every metric of ``config.user_type`` at every point, ordered by time then metric."""
    rng = random.Random(config.seed)
    days = trends.offsets(config.count, config.time_range_days)
    stamps = [datetime.combine(d, SNAPSHOT_TIME) for d in point_dates(config, as_of)]
    columns = {spec.name: (spec, _values(rng, spec, days, config)) for spec in METRICS[config.user_type]}
    return [
        DashboardMetric(tenant_id, config.user_type, subject_id, name, values[i], spec.unit, stamp)
        for i, stamp in enumerate(stamps)
        for name, (spec, values) in columns.items()
    ]


def founder_view(metric_item: Mapping[str, Any], *, subject_id: str) -> list[DashboardMetric]:
    """The five founder dashboard metrics read off one ``startup_metric`` item."""
    stamp = datetime.combine(date.fromisoformat(str(metric_item["date"])), SNAPSHOT_TIME)
    units = {s.name: s.unit for s in METRICS["startup_founder"]}
    return [
        DashboardMetric(
            metric_item["tenant_id"], "startup_founder", subject_id, metric, metric_item[field], units[metric], stamp
        )
        for metric, field in FOUNDER_FIELDS.items()
        if metric_item.get(field) is not None
    ]


class _SeriesArgs(TypedDict):
    """The keyword arguments :func:`trends.series` and :func:`trends.integer_series` share."""

    start: float
    trend: Trend
    variance: float
    direction: int
    scale: float | None


def _values(rng: random.Random, spec: MetricSpec, days: list[int], config: SyntheticDataConfig) -> list[float]:
    start = rng.uniform(spec.low, spec.high)
    lower, upper = spec.bounds
    kwargs: _SeriesArgs = {
        "start": start,
        "trend": config.trend,
        "variance": config.variance,
        "direction": spec.direction,
        "scale": spec.scale,
    }
    if spec.integer:
        return list(
            trends.integer_series(
                rng, days, lower=int(lower or 0), upper=None if upper is None else int(upper), **kwargs
            )
        )
    precision = 2 if spec.unit in ("usd", "tco2e") else 3
    return [round(v, precision) for v in trends.series(rng, days, lower=lower, upper=upper, **kwargs)]
