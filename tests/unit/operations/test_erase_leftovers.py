"""What an erasure's record says may still hold the subject, and until when
(:func:`auxeira.operations.erase_leftovers.may_still_hold`), read from AWS itself (moto): the events
stream's retention, the tables' 24-hour streams, point-in-time recovery, and the lake bucket's
object versions (none, kept until a lifecycle rule expires them, or kept with no end)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auxeira.operations.environment import Environment
from auxeira.operations.erase_leftovers import may_still_hold
from auxeira.runtime.clients import ClientFactory
from infra.tables import create_table_request
from schemas import catalog

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ENV = "leftovers"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        clients = {n: boto3.client(n, region_name="us-east-1") for n in ("s3", "kinesis", "dynamodb")}
        clients["s3"].create_bucket(Bucket="lake")
        yield clients


def environment(lake_root: str = "s3://lake/data") -> Environment:
    return Environment(name=ENV, clients=ClientFactory(region="us-east-1"), lake_root=lake_root)


def by_store(found: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    [one] = [f for f in found if f["store"].startswith(prefix)]
    return one


def test_the_stream_retention_is_read_from_the_stream_and_pitr_from_the_table(aws):
    # GIVEN an events stream kept 48 hours, and a users table with point-in-time recovery on
    env = environment()
    aws["kinesis"].create_stream(StreamName=env.stream_name, ShardCount=1)
    aws["kinesis"].increase_stream_retention_period(StreamName=env.stream_name, RetentionPeriodHours=48)
    users = catalog.table("users")
    aws["dynamodb"].create_table(**create_table_request(users, ENV))
    name = users.physical_name(ENV)
    aws["dynamodb"].update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    # WHEN the leftovers of an erasure whose last write was at AT are listed
    found = may_still_hold(env, [name], AT.timestamp())
    # THEN the stream holds the subject 48 hours after it, the table's stream 24 hours, PITR 35 days
    stream = by_store(found, "Kinesis stream")
    assert stream["until"] == (AT + timedelta(hours=48)).isoformat() and "read from the stream" in stream["why"]
    assert by_store(found, "DynamoDB Streams")["until"] == (AT + timedelta(hours=24)).isoformat()
    assert by_store(found, "point-in-time recovery")["until"] == (AT + timedelta(days=35)).isoformat()


def test_without_a_stream_the_registry_says_how_long_it_keeps_records(aws):
    found = may_still_hold(environment(), [], AT.timestamp())
    stream = by_store(found, "Kinesis stream")
    hours = environment().registry.stream.retention_hours
    assert stream["until"] == (AT + timedelta(hours=hours)).isoformat() and "StreamSpec" in stream["why"]
    assert not [f for f in found if f["store"].startswith(("DynamoDB Streams", "point-in-time"))]


def test_an_unversioned_bucket_keeps_nothing_after_the_erasure(aws):
    found = may_still_hold(environment(), [], AT.timestamp())
    assert by_store(found, "s3://lake") == {
        "store": "s3://lake",
        "until": AT.isoformat(),
        "why": "the bucket is not versioned: no old versions",
    }


def test_a_versioned_bucket_keeps_old_versions_until_its_lifecycle_rule_expires_them(aws):
    aws["s3"].put_bucket_versioning(Bucket="lake", VersioningConfiguration={"Status": "Enabled"})
    aws["s3"].put_bucket_lifecycle_configuration(
        Bucket="lake",
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "old-versions",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                }
            ]
        },
    )
    held = by_store(may_still_hold(environment(), [], AT.timestamp()), "noncurrent object versions")
    assert held["until"] == (AT + timedelta(days=30)).isoformat() and "30 days" in held["why"]


def test_a_versioned_bucket_without_a_rule_keeps_old_versions_with_no_end(aws):
    aws["s3"].put_bucket_versioning(Bucket="lake", VersioningConfiguration={"Status": "Enabled"})
    held = by_store(may_still_hold(environment(), [], AT.timestamp()), "noncurrent object versions")
    assert held["until"] is None and "no rule expiring them" in held["why"]


def test_a_local_lake_keeps_no_versions(aws, tmp_path):
    found = may_still_hold(environment(str(tmp_path)), [], AT.timestamp())
    assert by_store(found, "lake ")["why"] == "a local directory keeps no versions"
