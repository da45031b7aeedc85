"""The committed template's tables deploy through (moto's) CloudFormation and come out as the registry says.

The stack holds the template's own table resources, key and the parameters and conditions
they use, taken from ``infra/templates/pipeline.yaml`` as committed. moto 5.2.5's
CloudFormation creates a table's keys, attributes, indexes, stream, billing mode and
deletion protection, but drops ``TimeToLiveSpecification`` and point-in-time recovery
(its ``Table.create_from_cloudformation_json`` never reads them), so the TTL attribute
is held equal to the registry's on the very resource that was deployed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.cloudformation.render import TEMPLATE_DIR
from infra.cloudformation.tables import table_logical_id
from infra.policy_checks import load
from schemas.resources import REGISTRY

TEMPLATE = load(TEMPLATE_DIR / "pipeline.yaml")


def _tables_stack() -> dict:
    keep = {n: r for n, r in TEMPLATE["Resources"].items() if r["Type"] in ("AWS::DynamoDB::Table", "AWS::KMS::Key")}
    return {
        "AWSTemplateFormatVersion": TEMPLATE["AWSTemplateFormatVersion"],
        "Parameters": {"Env": TEMPLATE["Parameters"]["Env"]},
        "Conditions": {"IsProd": TEMPLATE["Conditions"]["IsProd"]},
        "Resources": keep,
    }


@contextmanager
def _deploy(env: str) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(DynamoDB client, stack resources) after deploying the tables as environment ``env``."""
    with pytest.MonkeyPatch.context() as m:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            m.setenv(name, "testing")
        m.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            cloudformation = boto3.client("cloudformation", region_name="eu-west-2")
            cloudformation.create_stack(
                StackName=f"auxeira-{env}",
                TemplateBody=json.dumps(_tables_stack()),
                Parameters=[{"ParameterKey": "Env", "ParameterValue": env}],
            )
            stack = cloudformation.describe_stacks(StackName=f"auxeira-{env}")["Stacks"][0]
            assert stack["StackStatus"] == "CREATE_COMPLETE"
            resources = cloudformation.describe_stack_resources(StackName=f"auxeira-{env}")["StackResources"]
            yield boto3.client("dynamodb", region_name="eu-west-2"), {r["LogicalResourceId"]: r for r in resources}


@pytest.fixture(scope="module")
def deployed():
    with _deploy("prod") as result:
        yield result


def test_the_stack_creates_exactly_the_registrys_tables(deployed):
    dynamodb, resources = deployed
    assert sorted(dynamodb.list_tables()["TableNames"]) == sorted(t.physical_name("prod") for t in REGISTRY.tables)
    for spec in REGISTRY.tables:
        assert resources[table_logical_id(spec)]["PhysicalResourceId"] == spec.physical_name("prod")


@pytest.mark.parametrize("spec", REGISTRY.tables, ids=lambda s: s.physical_name("prod"))
def test_each_deployed_table_has_the_registrys_keys_indexes_and_stream(deployed, spec):
    dynamodb, _ = deployed
    table = dynamodb.describe_table(TableName=spec.physical_name("prod"))["Table"]
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        (a, t) for a, t in zip(spec.key_attrs, ("HASH", "RANGE"))
    ]
    assert {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]} == spec.attribute_types()
    indexes = {
        g["IndexName"]: ([k["AttributeName"] for k in g["KeySchema"]], g["Projection"]["ProjectionType"])
        for g in table.get("GlobalSecondaryIndexes", [])
    }
    assert indexes == {
        g.name: ([g.hash_key[0], *([g.range_key[0]] if g.range_key else [])], g.projection) for g in spec.gsis
    }
    assert table.get("StreamSpecification", {}).get("StreamViewType") == spec.stream_view
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionProtectionEnabled"] is True  # environment prod


@pytest.mark.parametrize("spec", REGISTRY.tables, ids=lambda s: s.physical_name("prod"))
def test_each_deployed_table_resource_names_the_registrys_ttl_attribute(spec):
    ttl = TEMPLATE["Resources"][table_logical_id(spec)]["Properties"].get("TimeToLiveSpecification")
    assert ttl == ({"AttributeName": spec.ttl_attr, "Enabled": True} if spec.ttl_attr else None)


def test_deletion_protection_is_off_outside_production():
    with _deploy("dev") as (dynamodb, _):
        for spec in REGISTRY.tables:
            assert (
                dynamodb.describe_table(TableName=spec.physical_name("dev"))["Table"]["DeletionProtectionEnabled"]
                is False
            )
