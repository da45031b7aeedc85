"""One role per function, each allowed only the actions it performs on the resources it uses.

A function's policy is the sum of:

* its log group (CreateLogStream, PutLogEvents) and X-Ray (active tracing);
* its source, from its mapping spec: the events stream (the Kinesis reads Lambda's
  poller makes with the function's role) or every source table's stream;
* its dead letters: PutObject under ``dlq/{consumer}/`` of the lake, nothing else there;
* its mapping's on-failure destination: PutObject under ``aws/lambda/`` of the failures
  bucket and ListBucket on it (what Lambda's S3 destination requires);
* the pipeline key: Decrypt (reading the encrypted stream and table) and GenerateDataKey
  (writing encrypted objects and records);
* the stores of its :class:`~infra.cloudformation.deployables.Deployable`.

``Resource: "*"`` appears only for actions that authorize on no resource at all: X-Ray's
PutTraceSegments/PutTelemetryRecords, DynamoDB ListStreams, the EC2 network-interface
calls Lambda makes for a function in a VPC, CloudWatch PutMetricData (Glue's job
metrics); ``infra.policy_checks.UNSCOPED_ACTIONS`` holds every rendered policy to that
list. Policies are separate ``AWS::IAM::Policy`` resources, so a resource that names a role
(the search domain's access policy) does not depend on the role's policy in turn.
"""

from __future__ import annotations

from typing import Any

from infra.cloudformation.buckets import FAILURE_RECORDS_PREFIX, FAILURES, LAKE_BUCKET, bucket_arn, objects_arn
from infra.cloudformation.deployables import Deployable, Store, function_name, role_id
from infra.cloudformation.kms import KEY_ARN
from infra.cloudformation.model import Fragment, Suppression, account_arn, sub, suppress
from infra.cloudformation.search_domain import DOMAIN_NAME
from infra.cloudformation.stream import STREAM_ARN
from infra.cloudformation.tables import table_arn, table_stream_arn
from schemas.resources import CHECKPOINTS_TABLE, COUNTERS_TABLE, LAKE, REGISTRY, MappingSpec, Registry

__all__ = ["assume_role_policy", "function_policy", "function_role", "statement"]

_KINESIS_READ = [
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
]
_STREAMS_READ = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
_VPC_ENI_ON_ANY = Suppression(
    "checkov",
    "CKV_AWS_111",
    "Lambda creates and deletes a VPC function's network interfaces with its execution role; "
    "these EC2 actions are granted on '*' as in AWSLambdaVPCAccessExecutionRole (DescribeNetworkInterfaces "
    "authorizes on no resource). Every other write of this policy is scoped to an ARN.",
)
_VPC_ENI = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


def statement(sid: str, actions: list[str], resources: Any, **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources, **extra}


def assume_role_policy(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def function_role(spec: MappingSpec, deployable: Deployable, registry: Registry = REGISTRY) -> Fragment:
    """The function's role and its policy."""
    fragment = Fragment()
    role = role_id(spec)
    fragment.resource(
        role,
        "AWS::IAM::Role",
        {
            "RoleName": sub(f"auxeira-{spec.consumer}-${{Env}}-${{AWS::Region}}"),
            "Description": sub(f"auxeira ${{Env}}: the {spec.consumer} function"),
            "AssumeRolePolicyDocument": assume_role_policy("lambda.amazonaws.com"),
        },
    )
    policy = fragment.resource(
        f"{role}Policy",
        "AWS::IAM::Policy",
        {
            "PolicyName": f"{spec.consumer}-least-privilege",
            "Roles": [{"Ref": role}],
            "PolicyDocument": function_policy(spec, deployable, registry),
        },
    )
    if deployable.in_vpc:
        suppress(policy, _VPC_ENI_ON_ANY)
    return fragment


def function_policy(spec: MappingSpec, deployable: Deployable, registry: Registry = REGISTRY) -> dict[str, Any]:
    # The log group is named by ARN, not referred to: its name refers to the function,
    # which is created after this policy.
    log_group = f"log-group:/aws/lambda/{function_name(spec).replace('{env}', '${Env}')}:*"
    statements = [
        statement("OwnLogGroup", ["logs:CreateLogStream", "logs:PutLogEvents"], account_arn("logs", log_group)),
        statement("Tracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*"),
        *_source(spec, registry),
        statement(
            "OwnDeadLetters", ["s3:PutObject"], objects_arn(LAKE_BUCKET, f"{LAKE.dead_letters}/{spec.consumer}/")
        ),
        statement("OnFailureDestinationObjects", ["s3:PutObject"], objects_arn(FAILURES, FAILURE_RECORDS_PREFIX)),
        statement("OnFailureDestinationBucket", ["s3:ListBucket"], bucket_arn(FAILURES)),
        statement("PipelineKey", ["kms:Decrypt", "kms:GenerateDataKey"], KEY_ARN),
        *_stores(deployable),
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _source(spec: MappingSpec, registry: Registry) -> list[dict[str, Any]]:
    if spec.source == "kinesis":
        return [statement("ReadEventsStream", _KINESIS_READ, STREAM_ARN)]
    streams = [table_stream_arn(t) for t in registry.source_tables]
    return [
        statement("ReadTableStreams", _STREAMS_READ, streams),
        statement("ListTableStreams", ["dynamodb:ListStreams"], "*"),
    ]


def _stores(deployable: Deployable) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    if Store.EVENTS in deployable.stores:
        statements.append(statement("PutEvents", ["kinesis:PutRecords"], STREAM_ARN))
    if Store.COUNTERS in deployable.stores:
        statements.append(
            statement(
                "WriteCounters",
                ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:PutItem"],
                table_arn(COUNTERS_TABLE),
            )
        )
    if Store.EPOCHS in deployable.stores:
        statements.append(
            statement("StoreEpochs", ["dynamodb:GetItem", "dynamodb:PutItem"], table_arn(CHECKPOINTS_TABLE))
        )
    if Store.SEARCH in deployable.stores:
        domain = DOMAIN_NAME.replace("{env}", "${Env}")
        statements.append(
            statement(
                "IndexAndSearch",
                ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut"],
                sub(f"arn:${{AWS::Partition}}:es:${{AWS::Region}}:${{AWS::AccountId}}:domain/{domain}/*"),
            )
        )
    if deployable.lake_prefixes:
        prefixes = list(deployable.lake_prefixes)
        statements.append(statement("WriteLake", ["s3:PutObject"], [objects_arn(LAKE_BUCKET, p) for p in prefixes]))
        # What is already archived is listed (a rewrite covers what an object holds), only under its prefixes.
        statements.append(
            statement(
                "ListLake",
                ["s3:ListBucket"],
                bucket_arn(LAKE_BUCKET),
                Condition={"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}},
            )
        )
    if deployable.in_vpc:
        statements.append(statement("VpcNetworkInterfaces", _VPC_ENI, "*"))
    return statements
