"""``AWS::Lambda::EventSourceMapping`` resources rendered from the registry's mapping specs.

The local runner (``auxeira.runtime.mapping_runner``) obeys the same
:class:`~schemas.resources.MappingSpec`, so a mapping's batch size, retries, record age,
bisection and on-failure destination are the same here and deployed.
"""

from __future__ import annotations

from typing import Any

from infra.cloudformation.buckets import FAILURES, bucket_arn
from infra.cloudformation.deployables import role_id
from infra.cloudformation.functions import log_group_id
from infra.cloudformation.model import Fragment
from infra.cloudformation.stream import STREAM_ARN
from infra.cloudformation.tables import table_stream_arn
from schemas.resources import REGISTRY, MappingSpec, Registry

__all__ = ["event_source_mapping_resources", "mapping_properties", "mappings"]


def mapping_properties(spec: MappingSpec, function: Any, source_arn: Any, failure_bucket_arn: Any) -> dict[str, Any]:
    """The properties of one mapping; ``failure_bucket_arn`` receives discarded batches with their payload."""
    properties: dict[str, Any] = {
        "FunctionName": function,
        "EventSourceArn": source_arn,
        "BatchSize": spec.batch_size,
        "ParallelizationFactor": spec.parallelization_factor,
        "MaximumBatchingWindowInSeconds": spec.maximum_batching_window_seconds,
        "MaximumRetryAttempts": spec.maximum_retry_attempts,
        "MaximumRecordAgeInSeconds": spec.maximum_record_age_seconds,
        "BisectBatchOnFunctionError": spec.bisect_batch_on_function_error,
        "StartingPosition": spec.starting_position,
        "DestinationConfig": {"OnFailure": {"Destination": failure_bucket_arn}},
    }
    if spec.report_batch_item_failures:
        properties["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    return properties


def event_source_mapping_resources(
    events_stream_arn: Any, table_stream_arns: dict[str, Any], failure_bucket_arn: Any, registry: Registry = REGISTRY
) -> dict[str, Any]:
    """One mapping per Kinesis consumer, and one per table stream for the router.

    Args:
        table_stream_arns: logical table name (``users``) -> its stream ARN.
    """
    resources: dict[str, Any] = {}
    for spec in registry.mappings:
        function = {"Ref": f"{spec.logical_name}Function"}
        if spec.source == "kinesis":
            resources[f"{spec.logical_name}Mapping"] = {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": mapping_properties(spec, function, events_stream_arn, failure_bucket_arn),
            }
            continue
        for table, arn in sorted(table_stream_arns.items()):
            resources[f"{spec.logical_name}{_logical(table)}Mapping"] = {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": mapping_properties(spec, function, arn, failure_bucket_arn),
            }
    return resources


def _logical(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def mappings(registry: Registry = REGISTRY) -> Fragment:
    """Every mapping of the registry, each created after its function's policy and log group.

    The router gets one mapping per source table stream (``RouterAuxeiraUsersMapping``);
    the on-failure destination of every mapping is the failures bucket. A mapping is
    created only once its role may read the source (Lambda checks when it is created) and
    its log group exists (else the first invocation would create it, unencrypted and
    kept forever, and the stack's own log group would then fail to create).
    """
    # Keyed by the physical name's stem (``auxeira-users``, ``ai-assistant-users``): unique, unlike ``name``.
    streams = {t.physical.format(name=t.name, env="").strip("-"): table_stream_arn(t) for t in registry.source_tables}
    resources = event_source_mapping_resources(STREAM_ARN, streams, bucket_arn(FAILURES), registry)
    owners = {f"{spec.logical_name}Function": spec for spec in registry.mappings}
    fragment = Fragment()
    for name, resource in resources.items():
        spec = owners[resource["Properties"]["FunctionName"]["Ref"]]
        fragment.resource(
            name, resource["Type"], resource["Properties"], DependsOn=[f"{role_id(spec)}Policy", log_group_id(spec)]
        )
    return fragment
