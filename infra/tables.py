"""Table specs of the registry rendered to DynamoDB's ``CreateTable`` request.

The local stack provisions with these requests; the CloudFormation renderer writes the
same key schema, indexes and stream settings as ``AWS::DynamoDB::Table`` properties,
so a table looks the same on this machine and deployed.
"""

from __future__ import annotations

from typing import Any

from schemas.tables import Gsi, TableSpec

__all__ = ["create_table_request", "gsi_request", "key_schema"]


def key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def gsi_request(gsi: Gsi) -> dict[str, Any]:
    return {
        "IndexName": gsi.name,
        "KeySchema": key_schema(gsi.hash_key[0], gsi.range_key[0] if gsi.range_key else None),
        "Projection": {"ProjectionType": gsi.projection},
    }


def create_table_request(spec: TableSpec, env: str, *, name: str | None = None) -> dict[str, Any]:
    """``CreateTable`` arguments of a table: on demand, the spec's stream view, its indexes.

    Args:
        name: a physical name other than ``spec.physical_name(env)`` (test prefixes).
    """
    request: dict[str, Any] = {
        "TableName": name or spec.physical_name(env),
        "KeySchema": key_schema(spec.hash_key, spec.range_key),
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t} for a, t in spec.attribute_types().items()],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if spec.stream_view:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.stream_view}
    if spec.gsis:
        request["GlobalSecondaryIndexes"] = [gsi_request(g) for g in spec.gsis]
    return request
