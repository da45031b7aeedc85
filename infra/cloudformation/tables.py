"""``AWS::DynamoDB::Table`` resources rendered from the registry's table specs.

The key schema, attribute definitions and indexes are the very ones the local stack
creates (:func:`infra.tables.create_table_request`), so a table looks the same on this
machine and deployed. What only AWS has is added here: point-in-time recovery,
encryption with the pipeline's KMS key, deletion protection in production, and the
retain policies that keep a table when its stack or resource is deleted or replaced.

Source tables stream ``NEW_AND_OLD_IMAGES`` (the router needs both images to tell an
update from a move); the pipeline's own tables (checkpoints, counters, history) have no
stream, so their writes cannot loop back through the router.
"""

from __future__ import annotations

from typing import Any

from infra.cloudformation.kms import KEY_ARN
from infra.cloudformation.model import Fragment, get_att, if_, logical_id, ref
from infra.cloudformation.parameters import IS_PROD, named
from infra.tables import create_table_request
from schemas.resources import REGISTRY, Registry
from schemas.tables import TableSpec

__all__ = ["table_arn", "table_logical_id", "table_properties", "table_stream_arn", "tables"]


def table_logical_id(spec: TableSpec) -> str:
    """Unique per table even where two designs share a name (``users`` of Auxeira and of the assistant)."""
    return logical_id(spec.physical.format(name=spec.name, env=""), "Table")


def table_arn(spec: TableSpec) -> dict[str, Any]:
    return get_att(table_logical_id(spec), "Arn")


def table_stream_arn(spec: TableSpec) -> dict[str, Any]:
    if not spec.stream_view:
        raise ValueError(f"table {spec.name} has no stream")
    return get_att(table_logical_id(spec), "StreamArn")


def table_properties(spec: TableSpec) -> dict[str, Any]:
    """The table's properties: ``CreateTable``'s request plus what only AWS has."""
    request = create_table_request(spec, "{env}")
    properties: dict[str, Any] = {
        "TableName": named(spec.physical_name("{env}")),
        "BillingMode": request["BillingMode"],
        "KeySchema": request["KeySchema"],
        "AttributeDefinitions": request["AttributeDefinitions"],
    }
    if "GlobalSecondaryIndexes" in request:
        properties["GlobalSecondaryIndexes"] = request["GlobalSecondaryIndexes"]
    if spec.stream_view:
        properties["StreamSpecification"] = {"StreamViewType": spec.stream_view}
    if spec.ttl_attr:
        properties["TimeToLiveSpecification"] = {"AttributeName": spec.ttl_attr, "Enabled": True}
    properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    properties["SSESpecification"] = {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY_ARN}
    properties["DeletionProtectionEnabled"] = if_(IS_PROD, True, False)
    properties["Tags"] = [
        {"Key": "auxeira:table", "Value": spec.name},
        {"Key": "auxeira:env", "Value": ref("Env")},
    ]
    return properties


def tables(registry: Registry = REGISTRY) -> Fragment:
    """Every table of the registry: the source tables first, then the pipeline's own."""
    fragment = Fragment()
    for spec in registry.tables:
        fragment.resource(
            table_logical_id(spec),
            "AWS::DynamoDB::Table",
            table_properties(spec),
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
        )
    return fragment
