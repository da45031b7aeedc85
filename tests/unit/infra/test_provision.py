"""Provisioning renders every table of the registry, once, and twice at once without a crash;
the local runner and the rendered mapping read one spec."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from unittest.mock import MagicMock

import boto3
import pytest
from moto import mock_aws

from auxeira.runtime.local_pipeline import consumer_mapping, router_mappings
from infra.cloudformation.event_source_mappings import mapping_properties
from infra.local.provision import provision_stream, provision_tables
from schemas.resources import REGISTRY, mapping
from tests.moto_tables import serialized


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1"), boto3.client("kinesis", region_name="us-east-1")


def test_every_table_of_the_registry_is_created_as_declared(aws):
    dynamodb, kinesis = aws
    provisioned = provision_tables(dynamodb, "prov")
    for spec in REGISTRY.tables:
        table = dynamodb.describe_table(TableName=spec.physical_name("prov"))["Table"]
        assert [k["AttributeName"] for k in table["KeySchema"]] == list(spec.key_attrs)
        assert {g["IndexName"] for g in table.get("GlobalSecondaryIndexes", [])} == {g.name for g in spec.gsis}
        stream = table.get("StreamSpecification", {})
        assert stream.get("StreamViewType") == spec.stream_view
        assert (spec.physical_name("prov") in provisioned.stream_arns) == (spec.stream_view is not None)
        ttl = dynamodb.describe_time_to_live(TableName=spec.physical_name("prov"))["TimeToLiveDescription"]
        assert (ttl.get("AttributeName") if ttl["TimeToLiveStatus"] == "ENABLED" else None) == spec.ttl_attr
    assert provision_stream(kinesis, "prov", shard_count=2).endswith("/auxeira-events-prov")


def test_two_processes_provisioning_one_environment_at_once_both_succeed(aws):
    dynamodb, kinesis = aws
    safe = serialized(dynamodb)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: provision_tables(safe, "race").stream_arns, range(4)))
        list(pool.map(lambda _: provision_stream(serialized(kinesis), "race"), range(4)))
    assert all(r == results[0] for r in results) and results[0]


def test_the_local_runner_and_the_deployed_mapping_obey_one_spec():
    failures, checkpoints = MagicMock(), MagicMock()
    [router] = router_mappings(MagicMock(), {"auxeira-users-t": "arn"}, lambda e, c: {}, checkpoints, failures)
    counters = consumer_mapping(MagicMock(), "s", "counters", lambda e, c: {}, checkpoints, failures, "us-east-1")
    for esm, name in ((router, "router"), (counters, "counters")):
        assert esm.spec is mapping(name)
        rendered = mapping_properties(esm.spec, "fn", "arn", "bucket")
        assert rendered["BatchSize"] == esm.spec.batch_size
        assert rendered["MaximumRetryAttempts"] == esm.spec.maximum_retry_attempts
        assert rendered["MaximumRecordAgeInSeconds"] == esm.spec.maximum_record_age_seconds
