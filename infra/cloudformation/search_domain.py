"""The Amazon OpenSearch Service domain of the search projection.

In the VPC's private subnets behind the search security group, encrypted at rest with
the pipeline's key and node to node, HTTPS only with TLS 1.2 or later, and fine-grained
access control on. The consumers sign their requests with SigV4
(``auxeira.runtime.clients``), so the domain's users are IAM roles:

* the master user is ``SearchAdminRoleArn`` when given (an operator's role, which then
  maps the search consumer's role to an index-writing role in OpenSearch Dashboards),
  else the search consumer's own role, so a fresh deployment indexes at once;
* the access policy admits the consumers' roles for the HTTP methods the sink uses
  (GET, HEAD, POST for bulk, PUT for index templates) on this domain only.

Slow logs, application logs and audit logs go to one encrypted log group.
"""

from __future__ import annotations

from typing import Any

from infra.cloudformation.deployables import Store, deployables, role_id
from infra.cloudformation.kms import KEY_ARN
from infra.cloudformation.model import NO_VALUE, Fragment, get_att, if_, ref, sub
from infra.cloudformation.network import SEARCH_SG, ZONES, subnet_ids
from infra.cloudformation.parameters import LOG_RETENTION, named, number
from schemas.resources import REGISTRY, Registry

__all__ = ["DOMAIN", "DOMAIN_NAME", "TLS_POLICY", "search_domain", "search_url"]

DOMAIN = "SearchDomain"
DOMAIN_NAME = "auxeira-{env}"
#: TLS 1.2 at least, forward secrecy only (OpenSearch Service "DomainEndpointOptions").
TLS_POLICY = "Policy-Min-TLS-1-2-PFS-2023-10"
_HAS_ADMIN = "HasSearchAdminRole"
_HAS_MASTERS = "HasSearchDedicatedMasters"
_CONSUMER_METHODS = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut"]
_ADMIN_METHODS = [*_CONSUMER_METHODS, "es:ESHttpDelete", "es:ESHttpPatch"]


def search_url() -> dict[str, Any]:
    """``AUXEIRA_OPENSEARCH_URL`` of the search consumer (a ``*.es.amazonaws.com`` host: SigV4)."""
    return sub(f"https://${{{DOMAIN}.DomainEndpoint}}")


def search_domain(registry: Registry = REGISTRY) -> Fragment:
    fragment = Fragment()
    fragment.parameters.update(_parameters())
    fragment.conditions[_HAS_ADMIN] = {"Fn::Not": [{"Fn::Equals": [ref("SearchAdminRoleArn"), ""]}]}
    fragment.conditions[_HAS_MASTERS] = {"Fn::Not": [{"Fn::Equals": [ref("SearchDedicatedMasterCount"), "0"]}]}
    roles = [get_att(role_id(spec), "Arn") for spec, d in deployables(registry) if Store.SEARCH in d.stores]
    if not roles:
        raise ValueError("no deployable uses the search store: the domain would have no user")
    fragment.resource(
        "SearchDomainLogGroup",
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": sub("/aws/opensearch/auxeira-${Env}"),
            "RetentionInDays": ref(LOG_RETENTION),
            "KmsKeyId": KEY_ARN,
        },
        DeletionPolicy="Delete",
        UpdateReplacePolicy="Delete",
    )
    fragment.resource(
        "SearchDomainLogPolicy",
        "AWS::Logs::ResourcePolicy",
        {
            "PolicyName": sub("auxeira-${Env}-opensearch-logs"),
            "PolicyDocument": sub(
                '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                '"Principal":{"Service":"es.amazonaws.com"},'
                '"Action":["logs:PutLogEvents","logs:CreateLogStream"],'
                '"Resource":"${SearchDomainLogGroup.Arn}",'
                '"Condition":{"StringEquals":{"aws:SourceAccount":"${AWS::AccountId}"}}}]}'
            ),
        },
    )
    fragment.resource(
        DOMAIN,
        "AWS::OpenSearchService::Domain",
        _properties(roles),
        DependsOn=["SearchDomainLogPolicy"],
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
        UpdatePolicy={"EnableVersionUpgrade": True},
    )
    fragment.output("SearchUrl", search_url(), "AUXEIRA_OPENSEARCH_URL of the search consumer and the operators")
    return fragment


def _parameters() -> dict[str, Any]:
    return {
        "SearchEngineVersion": {
            "Type": "String",
            "Description": "OpenSearch engine of the domain.",
            "Default": "OpenSearch_2.19",
            "AllowedPattern": "^OpenSearch_\\d+\\.\\d+$",
        },
        "SearchInstanceType": {
            "Type": "String",
            "Description": "Data node type (production: r7g.large.search or larger).",
            "Default": "m6g.large.search",
            "AllowedPattern": "^[a-z0-9.]+\\.search$",
        },
        "SearchInstanceCount": {
            "Type": "Number",
            "Description": "Data nodes, spread evenly over the two zones.",
            "Default": 2,
            "AllowedValues": [2, 4, 6, 8, 10],
        },
        "SearchVolumeGiB": number("gp3 volume of each data node.", 20, 10, 3072),
        "SearchDedicatedMasterCount": {
            "Type": "Number",
            "Description": "Dedicated cluster-manager nodes (0 for none; 3 in production).",
            "Default": 0,
            "AllowedValues": [0, 3, 5],
        },
        "SearchDedicatedMasterType": {
            "Type": "String",
            "Description": "Node type of the dedicated cluster managers, when SearchDedicatedMasterCount is not 0.",
            "Default": "m6g.large.search",
        },
        "SearchAdminRoleArn": {
            "Type": "String",
            "Description": "Optional: the IAM role that administers OpenSearch (its master user). "
            "Empty: the search consumer's role is the master user.",
            "Default": "",
            "AllowedPattern": "^(arn:aws[a-z-]*:iam::\\d{12}:role/.+)?$",
        },
    }


def _properties(roles: list[dict[str, Any]]) -> dict[str, Any]:
    logs = {"CloudWatchLogsLogGroupArn": get_att("SearchDomainLogGroup", "Arn"), "Enabled": True}
    return {
        "DomainName": named(DOMAIN_NAME),
        "EngineVersion": ref("SearchEngineVersion"),
        "ClusterConfig": {
            "InstanceType": ref("SearchInstanceType"),
            "InstanceCount": ref("SearchInstanceCount"),
            "ZoneAwarenessEnabled": True,
            "ZoneAwarenessConfig": {"AvailabilityZoneCount": ZONES},
            "DedicatedMasterEnabled": if_(_HAS_MASTERS, True, False),
            "DedicatedMasterCount": if_(_HAS_MASTERS, ref("SearchDedicatedMasterCount"), NO_VALUE),
            "DedicatedMasterType": if_(_HAS_MASTERS, ref("SearchDedicatedMasterType"), NO_VALUE),
        },
        "EBSOptions": {"EBSEnabled": True, "VolumeType": "gp3", "VolumeSize": ref("SearchVolumeGiB")},
        "VPCOptions": {"SubnetIds": subnet_ids(), "SecurityGroupIds": [ref(SEARCH_SG)]},
        "EncryptionAtRestOptions": {"Enabled": True, "KmsKeyId": KEY_ARN},
        "NodeToNodeEncryptionOptions": {"Enabled": True},
        "DomainEndpointOptions": {"EnforceHTTPS": True, "TLSSecurityPolicy": TLS_POLICY},
        "AdvancedSecurityOptions": {
            "Enabled": True,
            "InternalUserDatabaseEnabled": False,
            "MasterUserOptions": {"MasterUserARN": if_(_HAS_ADMIN, ref("SearchAdminRoleArn"), roles[0])},
        },
        "AccessPolicies": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ConsumersIndexAndRead",
                    "Effect": "Allow",
                    "Principal": {"AWS": roles},
                    "Action": _CONSUMER_METHODS,
                    "Resource": _domain_paths(),
                },
                if_(
                    _HAS_ADMIN,
                    {
                        "Sid": "AdministratorManages",
                        "Effect": "Allow",
                        "Principal": {"AWS": ref("SearchAdminRoleArn")},
                        "Action": _ADMIN_METHODS,
                        "Resource": _domain_paths(),
                    },
                    NO_VALUE,
                ),
            ],
        },
        "LogPublishingOptions": {
            "SEARCH_SLOW_LOGS": logs,
            "INDEX_SLOW_LOGS": logs,
            "ES_APPLICATION_LOGS": logs,
            "AUDIT_LOGS": logs,
        },
        "SoftwareUpdateOptions": {"AutoSoftwareUpdateEnabled": True},
        "Tags": [{"Key": "auxeira:env", "Value": ref("Env")}],
    }


def _domain_paths() -> dict[str, Any]:
    return sub(
        f"arn:${{AWS::Partition}}:es:${{AWS::Region}}:${{AWS::AccountId}}:domain/{DOMAIN_NAME.replace('{env}', '${Env}')}/*"
    )
