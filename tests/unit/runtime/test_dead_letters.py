"""Dead letters in S3 (moto) and on disk: one object per record position, secrets redacted, read back whole."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from auxeira.runtime.dead_letters import DeadLetter, dead_letter_store, secret_paths_of
from schemas.secrets import REDACTED
from tests.factories import make_stored_item
from tests.stream_records import stream_record

TABLE = "auxeira-users-prod"


@pytest.fixture
def s3(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="lake")
        yield client


def _letter(record, **kw) -> DeadLetter:
    return DeadLetter(
        consumer="router",
        shard_id="shardId-1",
        sequence_number=record["dynamodb"]["SequenceNumber"],
        error_type="PoisonRecordError",
        message="users USER#1: bad",
        record=record,
        source_arn=record["eventSourceARN"],
        **kw,
    )


@pytest.mark.parametrize("root", ["s3://lake/prod", "local"])
def test_a_dead_letter_is_stored_once_with_its_secrets_redacted_and_read_back(s3, tmp_path, root):
    store = dead_letter_store(root if root.startswith("s3") else str(tmp_path), s3)
    # A foreign writer's nested attribute: only the deny-list knows it is secret.
    user = {
        **make_stored_item("user", 1, password_hash="HASH-MARKER", mfa_secret="MFA-MARKER"),
        "profile": {"password_reset_token": "TOKEN-MARKER"},
    }
    record = stream_record(TABLE, "INSERT", new=user, sequence="111")
    letter_id = store.put(_letter(record))
    store.put(_letter(record))  # a redelivered dead letter lands on the same object
    [stored] = list(store.list("router"))
    assert stored.id == letter_id and stored.sequence_number == "111"
    image = stored.record["dynamodb"]["NewImage"]
    assert image["password_hash"] == {"S": REDACTED} and image["mfa_secret"] == {"S": REDACTED}
    assert image["profile"]["M"]["password_reset_token"] == {"S": REDACTED}
    assert image["email"] == record["dynamodb"]["NewImage"]["email"]  # public and pii stay
    assert store.get(letter_id) == stored
    if root.startswith("s3"):
        body = b"".join(
            s3.get_object(Bucket="lake", Key=o["Key"])["Body"].read()
            for o in s3.list_objects_v2(Bucket="lake")["Contents"]
        )
        assert b"MARKER" not in body and all(
            o["Key"].startswith("prod/dlq/router/dt=") for o in s3.list_objects_v2(Bucket="lake")["Contents"]
        )


def test_tables_sharing_a_stream_label_and_sequence_get_different_names(tmp_path):
    store = dead_letter_store(str(tmp_path))
    a = stream_record("auxeira-users-prod", "INSERT", new=make_stored_item("user", 1), sequence="5")
    b = stream_record("auxeira-startups-prod", "INSERT", new=make_stored_item("startup", 1), sequence="5")
    assert store.put(_letter(a)) != store.put(_letter(b))
    assert len(list(store.list("router"))) == 2


@pytest.mark.parametrize("root", ["s3://lake/prod", "local"])
def test_a_record_of_a_table_no_spec_knows_is_redacted_by_the_secret_names_at_any_depth(s3, tmp_path, root):
    """A foreign writer's table has no spec (no secret paths): the deny-list alone must hold."""
    new = {
        "PK": "ACCOUNT#9",
        "SK": "PROFILE",
        "password_hash": "MARKER-hash",
        "profile": {"name": "Ada", "password_reset_token": "MARKER-reset"},
        "tax": [{"tax_id": "MARKER-tax"}, {"label": "kept"}],
        "api_key": "MARKER-key",
    }
    record = stream_record("partner-crm-prod", "INSERT", new=new)
    assert secret_paths_of(record) == ()  # no spec: nothing but the names decides
    store = dead_letter_store(root if root.startswith("s3") else str(tmp_path), s3)
    store.put(_letter(record))
    [stored] = list(store.list("router"))
    if root.startswith("s3"):
        written = [
            s3.get_object(Bucket="lake", Key=o["Key"])["Body"].read()
            for o in s3.list_objects_v2(Bucket="lake")["Contents"]
        ]
    else:
        written = [p.read_bytes() for p in tmp_path.rglob("*.json")]
    assert written and not any(b"MARKER" in body for body in written)  # what is stored, byte for byte
    image = stored.record["dynamodb"]["NewImage"]
    assert image["profile"]["M"]["name"] == {"S": "Ada"} and image["tax"]["L"][1]["M"]["label"] == {"S": "kept"}
    assert image["password_hash"] == {"S": REDACTED}
