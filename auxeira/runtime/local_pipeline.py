"""The whole pipeline on one machine: router mappings per table stream, consumer mappings
on the events stream, all polled by one loop.

This is what the demo, the integration tests and ``auxeira run`` use in place of the
Lambda event source mappings on AWS; the handlers are the same functions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from auxeira.runtime.checkpoints import Checkpoints
from auxeira.runtime.dead_letters import DeadLetterStore
from auxeira.runtime.mapping_runner import LocalEventSourceMapping, PollStats
from auxeira.runtime.shard_sources import DynamoStreamSource, KinesisSource
from schemas.resources import mapping

__all__ = ["LocalPipeline", "router_mappings", "consumer_mapping"]

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

    def run_until_caught_up(self, timeout: float = 120.0, idle_passes: int = 2,
                            idle_sleep: float = 0.05) -> PollStats:
        """Poll until ``idle_passes`` consecutive passes move no record anywhere.

        Two idle passes, because a record the router puts on Kinesis during a pass is
        only seen by the consumer mapping on a later one.
        """
        total = PollStats()
        idle = 0
        deadline = time.monotonic() + timeout
        while idle < idle_passes:
            if time.monotonic() > deadline:
                raise TimeoutError(f"pipeline not caught up after {timeout}s ({total.records} records moved)")
            stats = self.poll()
            total.add(stats)
            idle = idle + 1 if stats.idle else 0
            if stats.idle:
                time.sleep(idle_sleep)
        return total


def router_mappings(streams_client: Any, stream_arns: dict[str, str], handler: Handler,
                    checkpoints: Checkpoints, dead_letters: DeadLetterStore,
                    batch_size: int | None = None) -> list[LocalEventSourceMapping]:
    """One mapping per table stream, as on AWS (checkpoints named ``router:{table}``)."""
    return [
        LocalEventSourceMapping(
            source=DynamoStreamSource(streams_client, arn), handler=handler,
            checkpoints=checkpoints, consumer=f"router:{table}", dead_letters=dead_letters,
            batch_size=batch_size or mapping("router").batch_size,
        )
        for table, arn in sorted(stream_arns.items())
    ]


def consumer_mapping(kinesis_client: Any, stream_name: str, consumer: str, handler: Handler,
                     checkpoints: Checkpoints, dead_letters: DeadLetterStore, region: str,
                     batch_size: int | None = None) -> LocalEventSourceMapping:
    """A consumer of the events stream, with its own checkpoints and its deployed batch size."""
    return LocalEventSourceMapping(
        source=KinesisSource(kinesis_client, stream_name, region), handler=handler,
        checkpoints=checkpoints, consumer=consumer, dead_letters=dead_letters,
        batch_size=batch_size or mapping(consumer).batch_size,
    )
