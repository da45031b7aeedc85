"""Event source mapping settings of every Lambda, in one place.

The local event source mapping reads its batch sizes here, and the CloudFormation
resources are rendered from here (:func:`cloudformation_resources`), so what runs on this
machine and what is deployed cannot drift apart.

Why the settings differ:

* ``counters`` keeps ``ParallelizationFactor: 1``: its exactly-once guard is a per-shard
  sequence watermark on each counter item, which assumes one ordered reader per shard.
* ``cache`` and ``search`` are version-guarded per key, so any order is safe; they may
  read a shard with several concurrent batches (per-key order still holds, as Lambda
  keeps records of one partition key in one batch stream).
* Every mapping reports batch item failures and bisects nothing: our handlers already
  report the failing records, and Lambda restarts from the lowest failed sequence number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MappingSpec", "MAPPINGS", "mapping", "cloudformation_resources"]


@dataclass(frozen=True)
class MappingSpec:
    """One consumer's event source mapping."""

    consumer: str
    handler: str
    source: str  # "kinesis" (the events stream) or "dynamodb" (each table stream)
    batch_size: int
    parallelization_factor: int = 1
    maximum_batching_window_seconds: int = 1
    maximum_retry_attempts: int = 10
    starting_position: str = "TRIM_HORIZON"

    def properties(self, function_ref: Any, source_arn: Any) -> dict[str, Any]:
        """``AWS::Lambda::EventSourceMapping`` properties."""
        return {
            "FunctionName": function_ref,
            "EventSourceArn": source_arn,
            "BatchSize": self.batch_size,
            "ParallelizationFactor": self.parallelization_factor,
            "MaximumBatchingWindowInSeconds": self.maximum_batching_window_seconds,
            "MaximumRetryAttempts": self.maximum_retry_attempts,
            "BisectBatchOnFunctionError": False,
            "StartingPosition": self.starting_position,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        }


MAPPINGS: tuple[MappingSpec, ...] = (
    MappingSpec("router", "producers.handlers.router.handler", "dynamodb", batch_size=100),
    MappingSpec("cache", "consumers.handlers.cache.handler", "kinesis", batch_size=500, parallelization_factor=2),
    MappingSpec("search", "consumers.handlers.search.handler", "kinesis", batch_size=500, parallelization_factor=2),
    # Large batches: one UpdateItem per counter item per batch, so bigger batches coalesce
    # more (2,500 records of ~1 KB stay well under Lambda's 6 MB invocation payload).
    MappingSpec("counters", "consumers.handlers.counters.handler", "kinesis", batch_size=2500,
                parallelization_factor=1, maximum_batching_window_seconds=5),
)


def mapping(consumer: str) -> MappingSpec:
    for spec in MAPPINGS:
        if spec.consumer == consumer:
            return spec
    raise KeyError(f"no event source mapping for consumer {consumer!r}")


def cloudformation_resources(events_stream_arn: Any, table_stream_arns: dict[str, Any]) -> dict[str, Any]:
    """Event source mapping resources: one per consumer, and one per table for the router."""
    resources: dict[str, Any] = {}
    for spec in MAPPINGS:
        function = {"Ref": f"{_logical(spec.consumer)}Function"}
        if spec.source == "kinesis":
            resources[f"{_logical(spec.consumer)}Mapping"] = {
                "Type": "AWS::Lambda::EventSourceMapping", "Properties": spec.properties(function, events_stream_arn)}
            continue
        for table, arn in sorted(table_stream_arns.items()):
            resources[f"{_logical(spec.consumer)}{_logical(table)}Mapping"] = {
                "Type": "AWS::Lambda::EventSourceMapping", "Properties": spec.properties(function, arn)}
    return resources


def _logical(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))
