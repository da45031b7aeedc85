"""The private network of the search and cache stores, and of the consumers that use them.

A VPC of its own, with private subnets only (no internet or NAT gateway): the
OpenSearch domain and the Redis replication group live there, and so do the functions
that reach them. Those functions need two AWS services besides, S3 (dead letters) and
DynamoDB (their store's epoch copy in the checkpoints table, ``auxeira.runtime.epochs``),
which gateway endpoints provide; their policies admit only the lake bucket and the
tables and actions those functions use.

Security groups, and nothing wider:

* **consumers** (the functions in the VPC): no ingress; egress to the cache group on
  6379, to the search group on 443, and 443 to the S3 and DynamoDB gateway endpoints. A
  security group cannot name an endpoint's managed prefix list without a lookup
  CloudFormation does not offer, so that rule reads ``0.0.0.0/0:443``; with no internet
  route, the only addresses outside the VPC it reaches are S3's and DynamoDB's, through
  the endpoints and their policies.
* **cache**: ingress 6379 from the consumers group only; no egress.
* **search**: ingress 443 from the consumers group only; no egress.

Rules between groups are separate resources, so the groups do not depend on each other.
The flow log records every rejected and accepted connection (to an encrypted log group).
"""

from __future__ import annotations

from typing import Any

from infra.cloudformation.buckets import LAKE_BUCKET, bucket_arn, objects_arn
from infra.cloudformation.deployables import Store, deployables
from infra.cloudformation.kms import KEY_ARN
from infra.cloudformation.model import Fragment, account_arn, get_att, logical_id, ref, sub
from infra.cloudformation.parameters import LOG_RETENTION
from infra.cloudformation.tables import table_logical_id
from schemas.resources import CHECKPOINTS_TABLE, COUNTERS_TABLE, REGISTRY, Registry

__all__ = [
    "CACHE_SG",
    "CONSUMERS_SG",
    "SEARCH_SG",
    "SUBNETS",
    "VPC",
    "ZONES",
    "network",
    "subnet_ids",
]

VPC = "Vpc"
CONSUMERS_SG = "ConsumersSecurityGroup"
CACHE_SG = "CacheSecurityGroup"
SEARCH_SG = "SearchSecurityGroup"
#: Availability zones of the private subnets (OpenSearch zone awareness and Multi-AZ Redis need two).
ZONES = 2
SUBNETS = tuple(f"PrivateSubnet{i + 1}" for i in range(ZONES))
REDIS_PORT = 6379
HTTPS_PORT = 443
#: A rule that matches nothing: a group given only this egress rule has none (EC2 adds
#: allow-all egress to a group created without any).
_NO_EGRESS = [
    {"CidrIp": "255.255.255.255/32", "IpProtocol": "icmp", "FromPort": 252, "ToPort": 86, "Description": "no egress"}
]


def subnet_ids() -> list[dict[str, Any]]:
    return [ref(name) for name in SUBNETS]


def network(registry: Registry = REGISTRY) -> Fragment:
    fragment = Fragment()
    fragment.parameters["VpcCidr"] = {
        "Type": "String",
        "Description": "CIDR of the pipeline's VPC (each private subnet gets a /20 of it).",
        "Default": "10.40.0.0/16",
        "AllowedPattern": r"^(\d{1,3}\.){3}\d{1,3}/(1[6-9]|2[0-4])$",
    }
    fragment.resource(
        VPC,
        "AWS::EC2::VPC",
        {
            "CidrBlock": ref("VpcCidr"),
            "EnableDnsHostnames": True,
            "EnableDnsSupport": True,
            "Tags": [{"Key": "Name", "Value": sub("auxeira-${Env}")}],
        },
    )
    fragment.resource("PrivateRouteTable", "AWS::EC2::RouteTable", {"VpcId": ref(VPC)})
    for index, name in enumerate(SUBNETS):
        fragment.resource(
            name,
            "AWS::EC2::Subnet",
            {
                "VpcId": ref(VPC),
                "AvailabilityZone": {"Fn::Select": [index, {"Fn::GetAZs": ""}]},
                "CidrBlock": {"Fn::Select": [index, {"Fn::Cidr": [ref("VpcCidr"), ZONES, 12]}]},
                "MapPublicIpOnLaunch": False,
                "Tags": [{"Key": "Name", "Value": sub(f"auxeira-${{Env}}-private-{index + 1}")}],
            },
        )
        fragment.resource(
            f"{name}RouteTableAssociation",
            "AWS::EC2::SubnetRouteTableAssociation",
            {"SubnetId": ref(name), "RouteTableId": ref("PrivateRouteTable")},
        )
    fragment.resource(
        "S3GatewayEndpoint",
        "AWS::EC2::VPCEndpoint",
        {
            "VpcId": ref(VPC),
            "VpcEndpointType": "Gateway",
            "ServiceName": sub("com.amazonaws.${AWS::Region}.s3"),
            "RouteTableIds": [ref("PrivateRouteTable")],
            "PolicyDocument": _endpoint_policy(),
        },
    )
    fragment.merge(_dynamodb_endpoint(registry), _security_groups(), _flow_log())
    return fragment


def _dynamodb_endpoint(registry: Registry) -> Fragment:
    """DynamoDB for the functions in the VPC: the tables they use, with the actions they use, and no other."""
    fragment = Fragment()
    actions: dict[str, set[str]] = {}
    for _, deployable in deployables(registry):
        if not deployable.in_vpc:
            continue
        if Store.EPOCHS in deployable.stores:
            actions.setdefault(table_logical_id(CHECKPOINTS_TABLE), set()).update(
                {"dynamodb:GetItem", "dynamodb:PutItem"}
            )
        if Store.COUNTERS in deployable.stores:
            actions.setdefault(table_logical_id(COUNTERS_TABLE), set()).update(
                {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
            )
    if not actions:
        return fragment
    fragment.resource(
        "DynamoDbGatewayEndpoint",
        "AWS::EC2::VPCEndpoint",
        {
            "VpcId": ref(VPC),
            "VpcEndpointType": "Gateway",
            "ServiceName": sub("com.amazonaws.${AWS::Region}.dynamodb"),
            "RouteTableIds": [ref("PrivateRouteTable")],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": logical_id("Only", table),
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": sorted(table_actions),
                        "Resource": get_att(table, "Arn"),
                    }
                    for table, table_actions in sorted(actions.items())
                ],
            },
        },
    )
    return fragment


def _endpoint_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # The functions' own role policies still decide what each may do; the
                # endpoint only refuses every bucket but the lake.
                "Sid": "OnlyTheLake",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:PutObject", "s3:GetObject", "s3:ListBucket"],
                "Resource": [bucket_arn(LAKE_BUCKET), objects_arn(LAKE_BUCKET)],
            }
        ],
    }


def _security_groups() -> Fragment:
    fragment = Fragment()
    for name, text in (
        (CONSUMERS_SG, "consumers in the VPC: out to the cache, search and S3 only"),
        (CACHE_SG, "Redis: in from the consumers on 6379 only"),
        (SEARCH_SG, "OpenSearch: in from the consumers on 443 only"),
    ):
        fragment.resource(
            name,
            "AWS::EC2::SecurityGroup",
            {
                "GroupDescription": f"auxeira {text}",
                "VpcId": ref(VPC),
                "SecurityGroupEgress": _NO_EGRESS,
                "Tags": [
                    {"Key": "Name", "Value": sub(f"auxeira-${{Env}}-{name.removesuffix('SecurityGroup').lower()}")}
                ],
            },
        )
    for store, port in ((CACHE_SG, REDIS_PORT), (SEARCH_SG, HTTPS_PORT)):
        label = store.removesuffix("SecurityGroup")
        fragment.resource(
            f"ConsumersTo{label}Egress",
            "AWS::EC2::SecurityGroupEgress",
            {
                "GroupId": get_att(CONSUMERS_SG, "GroupId"),
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "DestinationSecurityGroupId": get_att(store, "GroupId"),
                "Description": f"consumers to {label.lower()}",
            },
        )
        fragment.resource(
            f"{label}FromConsumersIngress",
            "AWS::EC2::SecurityGroupIngress",
            {
                "GroupId": get_att(store, "GroupId"),
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "SourceSecurityGroupId": get_att(CONSUMERS_SG, "GroupId"),
                "Description": f"{label.lower()} from the consumers",
            },
        )
    fragment.resource(
        "ConsumersToS3Egress",
        "AWS::EC2::SecurityGroupEgress",
        {
            "GroupId": get_att(CONSUMERS_SG, "GroupId"),
            "IpProtocol": "tcp",
            "FromPort": HTTPS_PORT,
            "ToPort": HTTPS_PORT,
            "CidrIp": "0.0.0.0/0",
            "Description": "S3 and DynamoDB through the gateway endpoints: the subnets have no other route out",
        },
    )
    return fragment


def _flow_log() -> Fragment:
    fragment = Fragment()
    fragment.resource(
        "FlowLogGroup",
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": sub("/auxeira/${Env}/vpc-flow-logs"),
            "RetentionInDays": ref(LOG_RETENTION),
            "KmsKeyId": KEY_ARN,
        },
        DeletionPolicy="Delete",
        UpdateReplacePolicy="Delete",
    )
    fragment.resource(
        "FlowLogRole",
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "write-flow-logs",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                "Resource": get_att("FlowLogGroup", "Arn"),
                            },
                            {
                                # DescribeLogGroups authorizes on the account's log groups, not on one.
                                "Effect": "Allow",
                                "Action": "logs:DescribeLogGroups",
                                "Resource": account_arn("logs", "log-group:*"),
                            },
                        ],
                    },
                }
            ],
        },
    )
    fragment.resource(
        "VpcFlowLog",
        "AWS::EC2::FlowLog",
        {
            "ResourceId": ref(VPC),
            "ResourceType": "VPC",
            "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs",
            "LogGroupName": ref("FlowLogGroup"),
            "DeliverLogsPermissionArn": get_att("FlowLogRole", "Arn"),
        },
    )
    return fragment
