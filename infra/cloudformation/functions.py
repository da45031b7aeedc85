"""The Lambda functions: one per mapping spec of the registry, whatever the registry holds.

Each function gets, from the registry and the settings class of its consumer:

* its handler (the mapping spec's), the Lambda artifact of the release
  (``s3://<ArtifactsBucket>/<ArtifactsPrefix>/lambda.zip``, built by ``auxeira infra package``);
* its environment from its settings class (:mod:`infra.cloudformation.environment`),
  encrypted with the pipeline's key;
* a role of its own (:mod:`infra.cloudformation.iam`), created with its policy before
  the function, since Lambda checks a VPC function's network permissions when it is
  created;
* a log group with retention, encrypted; active X-Ray tracing;
* memory and reserved concurrency as parameters. The reserved concurrency's default
  covers twice the readers a mapping starts (shards x ParallelizationFactor for the
  events stream, one per table stream for the router), so a resharded stream is still
  read at once; 0 leaves the function unreserved.

Functions reaching the cache or search run in the VPC (consumers security group);
the others call only AWS APIs and run outside it.
"""

from __future__ import annotations

from typing import Any

from infra.cloudformation.deployables import (
    Deployable,
    deployables,
    function_id,
    function_name,
    role_id,
    settings_class,
)
from infra.cloudformation.environment import function_environment
from infra.cloudformation.iam import function_role
from infra.cloudformation.kms import KEY_ARN
from infra.cloudformation.model import NO_VALUE, Fragment, Suppression, get_att, if_, ref, sub, suppress
from infra.cloudformation.network import CONSUMERS_SG, subnet_ids
from infra.cloudformation.parameters import LOG_RETENTION, named, number
from schemas.resources import REGISTRY, MappingSpec, Registry

__all__ = ["RUNTIME", "functions", "log_group_id", "reserved_concurrency_default"]

RUNTIME = "python3.11"
#: The package's wheels are built for this architecture (``auxeira infra package``).
ARCHITECTURE = "x86_64"
_NOT_IN_VPC = Suppression(
    "checkov",
    "CKV_AWS_117",
    "Reaches only AWS APIs (streams, DynamoDB, S3) through IAM; only the functions that "
    "reach the cache or search run in the VPC.",
)
_NO_ASYNC_DLQ = Suppression(
    "checkov",
    "CKV_AWS_116",
    "Invoked only by its event source mapping (synchronously): discarded batches go to the "
    "mapping's S3 on-failure destination; a function DLQ applies to asynchronous invocations only.",
)


def log_group_id(spec: MappingSpec) -> str:
    return f"{spec.logical_name}FunctionLogGroup"


def reserved_concurrency_default(spec: MappingSpec, registry: Registry = REGISTRY) -> int:
    if spec.reserved_concurrency is not None:
        return spec.reserved_concurrency
    readers = registry.stream.shard_count if spec.source == "kinesis" else len(registry.source_tables)
    return 2 * readers * spec.parallelization_factor


def functions(registry: Registry = REGISTRY) -> Fragment:
    fragment = Fragment()
    for spec, deployable in deployables(registry):
        fragment.merge(_function(spec, deployable, registry))
    return fragment


def _function(spec: MappingSpec, deployable: Deployable, registry: Registry) -> Fragment:
    fragment = Fragment()
    name, memory, reserved = (
        spec.logical_name,
        f"{spec.logical_name}MemorySize",
        f"{spec.logical_name}ReservedConcurrency",
    )
    has_reserved = f"{spec.logical_name}IsReserved"
    fragment.parameters[memory] = number(
        f"MB of memory of the {spec.consumer} function.", deployable.memory_mb, 128, 10240
    )
    fragment.parameters[reserved] = number(
        f"Reserved concurrency of the {spec.consumer} function (at least the readers its mapping runs; 0: unreserved).",
        reserved_concurrency_default(spec, registry),
        0,
        1000,
    )
    fragment.conditions[has_reserved] = {"Fn::Not": [{"Fn::Equals": [ref(reserved), "0"]}]}
    fragment.merge(function_role(spec, deployable, registry))
    properties: dict[str, Any] = {
        "FunctionName": named(function_name(spec)),
        "Description": f"auxeira {spec.consumer}: {spec.source} stream -> {', '.join(sorted(deployable.stores)) or 'lake'}",
        "Runtime": RUNTIME,
        "Architectures": [ARCHITECTURE],
        "Handler": spec.handler,
        "Code": {"S3Bucket": ref("ArtifactsBucket"), "S3Key": sub("${ArtifactsPrefix}/lambda.zip")},
        "Role": get_att(role_id(spec), "Arn"),
        "MemorySize": ref(memory),
        "Timeout": deployable.timeout_seconds,
        "ReservedConcurrentExecutions": if_(has_reserved, ref(reserved), NO_VALUE),
        "TracingConfig": {"Mode": "Active"},
        "KmsKeyArn": KEY_ARN,
        "Environment": {"Variables": function_environment(settings_class(spec))},
        "Tags": [{"Key": "auxeira:consumer", "Value": spec.consumer}, {"Key": "auxeira:env", "Value": ref("Env")}],
    }
    if deployable.in_vpc:
        properties["VpcConfig"] = {"SubnetIds": subnet_ids(), "SecurityGroupIds": [get_att(CONSUMERS_SG, "GroupId")]}
    function = fragment.resource(
        function_id(spec), "AWS::Lambda::Function", properties, DependsOn=[f"{role_id(spec)}Policy"]
    )
    suppress(function, _NO_ASYNC_DLQ, *(() if deployable.in_vpc else (_NOT_IN_VPC,)))
    fragment.resource(
        log_group_id(spec),
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": sub(f"/aws/lambda/${{{function_id(spec)}}}"),
            "RetentionInDays": ref(LOG_RETENTION),
            "KmsKeyId": KEY_ARN,
        },
        DeletionPolicy="Delete",
        UpdateReplacePolicy="Delete",
    )
    fragment.output(f"{name}FunctionName", ref(function_id(spec)), f"The {spec.consumer} function")
    return fragment
