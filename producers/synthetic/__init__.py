"""Synthetic workload generator (issue 4, seed ``001``): realistic tenants, startups and
dashboards with trends, written through the repository or the publisher.

Modules, pure unless noted:

* ``config``: :class:`SyntheticDataConfig` (one series) and :class:`WorkloadConfig`;
* ``trends``: series that follow a trend with seeded noise;
* ``dashboards``: the seven user types' timestamped dashboard metrics;
* ``startups``: internally consistent startups and their ``METRICS#date`` series;
* ``tenants``, ``engagement``, ``loans``: what a tenant has, what a startup does, its loans;
* ``names``: word lists and seeded ids; ``ops``: the writes to make, as data;
* ``events``: the ``dashboard_metric`` event type and the published form of generated data;
* ``plan``: a config -> ordered units of ops;
* ``ratelimit``: a thread-safe token bucket;
* ``workload`` (I/O): runs the units through the repository and the publisher.
"""

from producers.synthetic.config import (
    DASHBOARD_USER_TYPES,
    TRENDS,
    SyntheticDataConfig,
    Trend,
    WorkloadConfig,
)
from producers.synthetic.dashboards import DashboardMetric, generate_dashboard
from producers.synthetic.plan import phases
from producers.synthetic.ratelimit import TokenBucket, parse_rate
from producers.synthetic.startups import build_startup
from producers.synthetic.workload import Progress, run_workload

__all__ = [
    "DASHBOARD_USER_TYPES",
    "TRENDS",
    "DashboardMetric",
    "Progress",
    "SyntheticDataConfig",
    "TokenBucket",
    "Trend",
    "WorkloadConfig",
    "build_startup",
    "generate_dashboard",
    "parse_rate",
    "phases",
    "run_workload",
]
