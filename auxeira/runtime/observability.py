"""What each handler tells about each batch: one structured log line and one set of metrics.

Deployed handlers report through :class:`PowertoolsObserver`: a powertools ``Logger``
line (consumer, shard, sequence range, every count, and for each record that failed its
position, error type and the event ids it carried: one event can be followed through every
consumer's log and into the dead letters) and powertools ``Metrics`` in CloudWatch embedded metric
format, flushed per batch, dimension ``consumer``:

    Records, Applied, Stale, Skipped, Retried, Poison, DeadLettered   (Count)
    NewestAppliedAgeMs                                                 (Milliseconds)
    StoreReset        (Count: 1 per epoch check, about once a minute, while the consumer's
                       store has lost or swapped its state; see auxeira.runtime.epochs)

The age is how long ago the newest record applied reached its stream: the consumer's
lag as it was when the batch was applied. No payload, key or value is ever logged:
only positions, counts and error types (secrets never reach a log).

Locally, ``auxeira run`` and the demo read the same reports through
:class:`StatsObserver`, which sums them per consumer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auxeira.runtime.epochs import EpochCheck
from auxeira.runtime.sinks import BatchStats

__all__ = [
    "METRICS",
    "METRIC_NAMESPACE",
    "STORE_RESET",
    "BatchObserver",
    "BatchReport",
    "PowertoolsObserver",
    "StatsObserver",
    "quiet_observer",
]

METRIC_NAMESPACE = "Auxeira/Pipeline"
#: Emitted by :meth:`PowertoolsObserver.store_reset` (an alarm on ``Sum > 0``).
STORE_RESET = "StoreReset"
#: Metric name -> the BatchStats field it reports.
METRICS: dict[str, str] = {
    "Records": "records",
    "Applied": "applied",
    "Stale": "stale",
    "Skipped": "skipped",
    "Retried": "retried",
    "Poison": "poison",
    "DeadLettered": "dead_lettered",
}


@dataclass(frozen=True)
class BatchReport:
    """One batch of one consumer, as observed."""

    consumer: str
    shard: str
    first_sequence: str
    last_sequence: str
    stats: BatchStats
    failures: tuple[Mapping[str, Any], ...] = ()
    seconds: float = 0.0

    @classmethod
    def of(
        cls,
        consumer: str,
        records: Sequence[Mapping[str, Any]],
        stats: BatchStats,
        failures: Sequence[Mapping[str, Any]],
        seconds: float,
    ) -> BatchReport:
        from auxeira.runtime.dead_letters import record_position

        if records:
            _, shard, first = record_position(records[0])
            last = record_position(records[-1])[2]
        else:
            shard = first = last = ""
        return cls(consumer, shard, first, last, stats, tuple(failures), seconds)

    def log_fields(self) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "shard": self.shard,
            "first_sequence": self.first_sequence,
            "last_sequence": self.last_sequence,
            **self.stats.as_dict(),
            "failures": list(self.failures),
            "seconds": round(self.seconds, 4),
        }


BatchObserver = Callable[[BatchReport], None]


def quiet_observer(report: BatchReport) -> None:
    """Observe nothing (unit tests and tools that read the stats themselves)."""


class PowertoolsObserver:
    """Reports each batch through powertools Logger and Metrics (EMF), as deployed handlers do.

    Args:
        logger, metrics: injected by tests; built for the consumer on first use otherwise.
    """

    def __init__(self, consumer: str, *, logger: Any = None, metrics: Any = None, env: str | None = None):
        self.consumer = consumer
        self._logger = logger
        self._metrics = metrics
        self._env = env

    @property
    def logger(self) -> Any:
        if self._logger is None:
            from aws_lambda_powertools import Logger

            self._logger = Logger(service=f"auxeira-{self.consumer}")
        return self._logger

    @property
    def metrics(self) -> Any:
        if self._metrics is None:
            from aws_lambda_powertools import Metrics

            self._metrics = Metrics(namespace=METRIC_NAMESPACE, service=f"auxeira-{self.consumer}")
        return self._metrics

    def __call__(self, report: BatchReport) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        level = self.logger.warning if (report.stats.retried or report.stats.dead_lettered) else self.logger.info
        level("batch processed", extra=report.log_fields())
        metrics = self.metrics
        metrics.add_dimension(name="consumer", value=report.consumer)
        if self._env:
            metrics.add_dimension(name="environment", value=self._env)
        for name, attr in METRICS.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=getattr(report.stats, attr))
        if report.stats.newest_applied_age_ms is not None:
            metrics.add_metric(
                name="NewestAppliedAgeMs", unit=MetricUnit.Milliseconds, value=report.stats.newest_applied_age_ms
            )
        metrics.flush_metrics()

    def store_reset(self, check: EpochCheck) -> None:
        """The consumer's store lost or swapped its state: one error line and ``StoreReset``."""
        from aws_lambda_powertools.metrics import MetricUnit

        detail = {"store": check.store, "state": check.state.value, "detail": check.message}
        self.logger.error("store reset", extra={"consumer": self.consumer, **detail})
        metrics = self.metrics
        metrics.add_dimension(name="consumer", value=self.consumer)
        if self._env:
            metrics.add_dimension(name="environment", value=self._env)
        metrics.add_metric(name=STORE_RESET, unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()


@dataclass
class StatsObserver:
    """Sums every report per consumer (``auxeira run`` prints these), then passes it on."""

    then: BatchObserver = quiet_observer
    totals: dict[str, BatchStats] = field(default_factory=dict)

    def __call__(self, report: BatchReport) -> None:
        self.totals.setdefault(report.consumer, BatchStats()).add(report.stats)
        self.then(report)
