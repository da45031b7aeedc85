"""What to generate: the generator's parameters (seed ``001_d257f6497f689cc0.txt``).

:class:`SyntheticDataConfig` is the seed's own parameter object, one time series of one
user type's dashboard. :class:`WorkloadConfig` is the whole dataset ``auxeira generate``
writes: tenants, their startups and investors, over a time range ending on ``as_of``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.entities.auxeira import USER_TYPES

__all__ = [
    "DASHBOARD_USER_TYPES",
    "TRENDS",
    "DashboardUserType",
    "SyntheticDataConfig",
    "Trend",
    "WorkloadConfig",
]

Trend = Literal["improving", "declining", "stable", "volatile"]
TRENDS: tuple[str, ...] = get_args(Trend)

#: The seven dashboards; ``admin`` (the eighth user type) has none.
DashboardUserType = Literal[
    "startup_founder",
    "venture_capital",
    "angel_investor",
    "corporate_partner",
    "government",
    "esg_funder",
    "impact_investor",
]
DASHBOARD_USER_TYPES: tuple[str, ...] = get_args(DashboardUserType)
# The names must stay those of the entity models, or a generated user would not validate.
assert set(DASHBOARD_USER_TYPES) <= set(USER_TYPES), "dashboard user types drifted from USER_TYPES"


class SyntheticDataConfig(BaseModel):
    """One generated series: ``count`` points spread evenly over ``time_range_days``.

    Args:
        user_type: whose dashboard the metrics belong to.
        data_type: what is generated; only time-series ``metrics`` come from a config
            (the entity graph of a startup is built by :mod:`producers.synthetic.startups`).
        count: number of data points (timestamps).
        time_range_days: span from the first to the last point.
        variance: noise, 0 (smooth) to 1 (noisy), as in the seed.
        trend: direction of the series; for a "lower is better" metric (burn rate, churn)
            ``improving`` means it goes down.
        seed: same seed, same series; None draws fresh randomness.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_type: DashboardUserType = "startup_founder"
    data_type: Literal["metrics"] = "metrics"
    count: int = Field(default=30, ge=1, le=10_000)
    time_range_days: int = Field(default=30, ge=0, le=3_650)
    variance: float = Field(default=0.2, ge=0.0, le=1.0)
    trend: Trend = "improving"
    seed: int | None = 42


class WorkloadConfig(BaseModel):
    """The dataset of ``auxeira generate``.

    Args:
        tenants: number of tenants (accelerator programmes or funds).
        startups: startups per tenant.
        days: time range of every series, ending on ``as_of``.
        points: metric snapshots per startup and dashboard over ``days``; None means one a
            week plus the last day, the cadence founders update at (and what keeps
            ``--startups 500 --days 60`` within minutes on DynamoDB Local: daily points
            would be 90,000 metric items for three tenants).
        trend: one trend for every series, or None for a realistic mix.
        variance: noise of every series (see :class:`SyntheticDataConfig`).
        seed: the same seed and ``as_of`` give the same data, item for item.
        as_of: the last day of the range; the data's ids do not depend on it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenants: int = Field(default=3, ge=1, le=100)
    startups: int = Field(default=10, ge=0, le=100_000)
    days: int = Field(default=60, ge=1, le=3_650)
    points: int | None = Field(default=None, ge=1, le=3_650)
    trend: Trend | None = None
    variance: float = Field(default=0.2, ge=0.0, le=1.0)
    seed: int = 42
    as_of: date

    @model_validator(mode="after")
    def _points_fit_days(self) -> WorkloadConfig:
        if self.points is not None and self.points > self.days + 1:
            raise ValueError(
                f"points ({self.points}) cannot exceed days + 1 ({self.days + 1}): metric items are keyed by date"
            )
        return self

    @property
    def point_count(self) -> int:
        """Snapshots per series: ``points`` or weekly plus the last day."""
        return self.points if self.points is not None else self.days // 7 + 1

    def series_config(self, user_type: str, trend: str, seed: int) -> SyntheticDataConfig:
        """The config of one series of this workload."""
        return SyntheticDataConfig(
            user_type=user_type,
            count=self.point_count,
            time_range_days=self.days,
            variance=self.variance,
            trend=trend,
            seed=seed,
        )
