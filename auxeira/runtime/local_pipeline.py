"""Event source mappings polled together on one machine: a router mapping per table stream
and a mapping per consumer of the events stream, all round-robin in one loop.

This is what the demo, the integration tests, ``auxeira run`` and replay use in place of
Lambda's event source mappings; the handlers are the deployed functions, and each
mapping obeys its registry spec (:func:`schemas.resources.mapping`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from auxeira.runtime.checkpoints import Checkpoints
from auxeira.runtime.failure_records import FailureRecords
from auxeira.runtime.mapping_runner import LocalEventSourceMapping, PollStats
from auxeira.runtime.shard_sources import DynamoStreamSource, KinesisSource
from schemas.resources import mapping

__all__ = ["LocalPipeline", "consumer_mapping", "router_mappings"]

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LocalPipeline:
    """A set of event source mappings polled round-robin until nothing moves."""

    mappings: list[LocalEventSourceMapping] = field(default_factory=list)
    #: Records moved so far, per consumer (``router:{table}``, ``cache``, ...).
    totals: dict[str, PollStats] = field(default_factory=dict)

    def poll(self) -> PollStats:
        stats = PollStats()
        for esm in self.mappings:
            moved = esm.poll()
            self.totals.setdefault(esm.consumer, PollStats()).add(moved)
            stats.add(moved)
        return stats

    def moved(self, prefix: str) -> int:
        """Records delivered to consumers whose name starts with ``prefix``."""
        return sum(s.records for name, s in self.totals.items() if name.startswith(prefix))

    def release(self) -> None:
        """Give every shard lease up (a clean stop; a killed runner's leases expire instead)."""
        for esm in self.mappings:
            esm.release()

    def run_until_caught_up(self, timeout: float = 120.0, idle_passes: int = 2, idle_sleep: float = 0.05) -> PollStats:
        """Poll until ``idle_passes`` consecutive passes move no record anywhere.

        Two idle passes, because a record the router puts on Kinesis during a pass is
        only seen by the consumer mapping on a later one. A pass in which a shard is
        backing off after a failure is not idle.
        """
        total = PollStats()
        idle = 0
        deadline = time.monotonic() + timeout
        while idle < idle_passes:
            if time.monotonic() > deadline:
                raise TimeoutError(f"pipeline not caught up after {timeout}s ({total.records} records moved)")
            stats = self.poll()
            total.add(stats)
            waiting = any(s.not_before > esm.clock() for esm in self.mappings for s in esm._shards.values())
            idle = idle + 1 if stats.idle and not waiting else 0
            if stats.idle:
                time.sleep(idle_sleep)
        return total


def router_mappings(
    streams_client: Any,
    stream_arns: dict[str, str],
    handler: Handler,
    checkpoints: Checkpoints,
    failures: FailureRecords,
    batch_size: int | None = None,
) -> list[LocalEventSourceMapping]:
    """One mapping per table stream, as on AWS (checkpoints named ``router:{table}``)."""
    return [
        LocalEventSourceMapping(
            source=DynamoStreamSource(streams_client, arn),
            handler=handler,
            checkpoints=checkpoints,
            consumer=f"router:{table}",
            spec=mapping("router"),
            failures=failures,
            batch_size=batch_size,
        )
        for table, arn in sorted(stream_arns.items())
    ]


def consumer_mapping(
    kinesis_client: Any,
    stream_name: str,
    consumer: str,
    handler: Handler,
    checkpoints: Checkpoints,
    failures: FailureRecords,
    region: str,
    batch_size: int | None = None,
) -> LocalEventSourceMapping:
    """A consumer of the events stream, with its own checkpoints and its deployed mapping spec."""
    return LocalEventSourceMapping(
        source=KinesisSource(kinesis_client, stream_name, region),
        handler=handler,
        checkpoints=checkpoints,
        consumer=consumer,
        spec=mapping(consumer),
        failures=failures,
        batch_size=batch_size,
    )
