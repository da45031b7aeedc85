"""Time series that follow a trend with noise: pure, and reproducible from a seeded RNG.

A series is a drift plus noise, in log space for levels (money, counts: they grow by
percentages and never go below zero) or in absolute units for bounded values (scores,
rates, IRR, which can cross zero):

* ``improving`` / ``declining``: a steady drift up or down per 30 days, in the
  metric's good or bad direction (for burn rate or churn, "improving" means down);
* ``stable``: no drift, the base noise;
* ``volatile``: no drift, three times the noise, so it swings both ways.

The noise is AR(1) (each step keeps 60% of the last deviation) rather than independent
per point: real metrics wander, they do not jump back to the trend line every day.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from producers.synthetic.config import Trend

__all__ = ["DRIFT_PER_30_DAYS", "integer_series", "noise_sigma", "offsets", "series"]

#: Relative (log) change per 30 days in the good direction (``stable``/``volatile``: none).
DRIFT_PER_30_DAYS: dict[str, float] = {
    "improving": 0.08,
    "declining": -0.06,
    "stable": 0.0,
    "volatile": 0.0,
}
_VOLATILE_FACTOR = 3.0
_PERSISTENCE = 0.6


def noise_sigma(trend: Trend, variance: float) -> float:
    """Standard deviation of one step's noise (log units, or fractions of the scale)."""
    sigma = 0.005 + 0.045 * variance
    return sigma * _VOLATILE_FACTOR if trend == "volatile" else sigma


def offsets(count: int, time_range_days: int) -> list[int]:
    """Whole days from the start of the range of ``count`` evenly spread points.

    The last point is on the last day; the points are distinct whenever
    ``count <= time_range_days + 1`` (half-up rounding keeps spacing >= 1 strictly
    increasing, where Python's banker's ``round`` would not).
    """
    if count == 1:
        return [time_range_days]
    step = time_range_days / (count - 1)
    return [math.floor(i * step + 0.5) for i in range(count)]


def series(
    rng: random.Random,
    days: Sequence[float],
    *,
    start: float,
    trend: Trend,
    variance: float,
    direction: int = 1,
    scale: float | None = None,
    lower: float | None = 0.0,
    upper: float | None = None,
) -> list[float]:
    """Values at ``days`` (offsets from the first point) following ``trend``.

    Args:
        rng: the only source of randomness; the same RNG state gives the same series.
        days: offsets in days, increasing.
        start: the value the trend line starts from.
        trend: see the module docstring.
        variance: 0..1, the seed's noise knob.
        direction: +1 when higher is better, -1 when lower is (burn, churn, CAC).
        scale: None for a level (multiplicative, in log space); otherwise an additive
            series whose drift and noise are fractions of ``scale`` (a score of scale 50
            improves by 4 points a month).
        lower, upper: clamp bounds (None: unbounded).
    """
    drift = DRIFT_PER_30_DAYS[trend] * direction
    sigma = noise_sigma(trend, variance)
    out: list[float] = []
    noise = 0.0
    for day in days:
        noise = _PERSISTENCE * noise + rng.gauss(0.0, sigma)
        change = drift * day / 30.0 + noise
        value = start * math.exp(change) if scale is None else start + scale * change
        out.append(_clamp(value, lower, upper))
    return out


def integer_series(
    rng: random.Random,
    days: Sequence[float],
    *,
    start: float,
    trend: Trend,
    variance: float,
    direction: int = 1,
    scale: float | None = None,
    lower: int = 0,
    upper: int | None = None,
) -> list[int]:
    """:func:`series` rounded to whole numbers (counts, scores), clamped to the bounds."""
    values = series(
        rng,
        days,
        start=start,
        trend=trend,
        variance=variance,
        direction=direction,
        scale=scale,
        lower=lower,
        upper=upper,
    )
    return [int(_clamp(math.floor(v + 0.5), lower, upper)) for v in values]


def _clamp(value: float, lower: float | None, upper: float | None) -> float:
    if lower is not None and value < lower:
        return lower
    if upper is not None and value > upper:
        return upper
    return value
