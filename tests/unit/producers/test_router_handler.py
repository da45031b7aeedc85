"""The router handler on moto's Kinesis: envelopes land in order, failures are redelivered, poison is stored."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from auxeira.runtime.dead_letters import LocalDeadLetters
from producers.handlers.router import build_handler
from producers.kinesis_writer import KinesisWriter
from schemas.envelope import decode
from tests.factories import make_stored_item
from tests.stream_records import stream_event, stream_record

STREAM = "auxeira-events-test"
TABLE = "auxeira-startups-test"


@pytest.fixture
def kinesis():
    with mock_aws():
        client = boto3.client("kinesis", region_name="us-east-1")
        client.create_stream(StreamName=STREAM, ShardCount=1)
        yield client


def _read_all(client) -> list:
    shard = client.list_shards(StreamName=STREAM)["Shards"][0]["ShardId"]
    it = client.get_shard_iterator(StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return [decode(r["Data"]) for r in client.get_records(ShardIterator=it, Limit=1000)["Records"]]


def test_a_batch_of_changes_becomes_envelopes_in_order(kinesis, tmp_path):
    # GIVEN three changes of one startup
    v1 = make_stored_item("startup", 1, version=1)
    v2 = {**v1, "version": 2, "tagline": "second"}
    records = [
        stream_record(TABLE, "INSERT", new=v1),
        stream_record(TABLE, "MODIFY", new=v2, old=v1),
        stream_record(TABLE, "REMOVE", old=v2),
    ]
    handler = build_handler(KinesisWriter(kinesis, STREAM), LocalDeadLetters(tmp_path))
    # WHEN routed THEN nothing fails and the stream holds created, updated, deleted in order
    assert handler(stream_event(*records), None) == {"batchItemFailures": []}
    events = _read_all(kinesis)
    assert [e.event_type for e in events] == ["startup.created", "startup.updated", "startup.deleted"]
    assert [e.version for e in events] == [1, 2, 2]  # the delete keeps the removed version...
    assert events[0].order < events[1].order < events[2].order  # ...and outranks it by its sequence


class RefusingClient:
    """Kinesis that refuses every record whose data contains ``needle`` (throttled)."""

    def __init__(self, needle: bytes):
        self.needle = needle

    def put_records(self, StreamName, Records):
        out = []
        for n, r in enumerate(Records):
            if self.needle in r["Data"]:
                out.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
            else:
                out.append({"ShardId": "shardId-000000000000", "SequenceNumber": str(n)})
        return {"FailedRecordCount": sum("ErrorCode" in o for o in out), "Records": out}


def test_a_change_that_cannot_be_put_is_reported_for_redelivery(tmp_path):
    ok = make_stored_item("startup", 1, version=1)
    stuck = make_stored_item("startup", 2, version=1)
    records = [
        stream_record(TABLE, "INSERT", new=ok, sequence="100"),
        stream_record(TABLE, "INSERT", new=stuck, sequence="200"),
    ]
    writer = KinesisWriter(RefusingClient(stuck["startup_id"].encode()), STREAM, max_attempts=2, sleep=lambda _: None)
    response = build_handler(writer, LocalDeadLetters(tmp_path))(stream_event(*records), None)
    # THEN only the refused change is reported (Lambda redelivers from it); none is dropped
    assert response == {"batchItemFailures": [{"itemIdentifier": "200"}]}


def test_unroutable_change_is_dead_lettered_and_the_batch_goes_on(kinesis, tmp_path):
    dlq = LocalDeadLetters(tmp_path)
    good = make_stored_item("startup", 1, version=1)
    orphan = {k: v for k, v in make_stored_item("startup", 2, version=1).items() if k != "tenant_id"}
    huge = {**make_stored_item("startup", 3, version=1), "description": "x" * 600_000}
    records = [
        stream_record(TABLE, "INSERT", new=good),
        stream_record(TABLE, "INSERT", new=orphan, sequence="7"),
        stream_record(TABLE, "MODIFY", new=huge, old=huge, sequence="8"),
    ]
    response = build_handler(KinesisWriter(kinesis, STREAM), dlq)(stream_event(*records), None)
    assert response == {"batchItemFailures": []}
    assert [e.entity for e in _read_all(kinesis)] == ["startup"]
    letters = {letter.sequence_number: letter for letter in dlq.list("router")}
    assert "tenant_id" in letters["7"].message
    assert letters["8"].error_type == "RecordTooLargeError"
    assert letters["8"].record["dynamodb"]["SequenceNumber"] == "8"
