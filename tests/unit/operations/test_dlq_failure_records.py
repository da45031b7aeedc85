"""Failure records of the event source mappings: with payload (redriven as they are), without
(read back from the stream by shard and sequence range, moto Kinesis and DynamoDB Streams),
past the stream's retention (reported, kept), and in Lambda's own layout in a failure bucket."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from auxeira.operations.dlq import Dlq
from auxeira.operations.dlq_items import Stores, consumer_of
from auxeira.operations.dlq_streams import RangeReader
from auxeira.operations.environment import Environment
from auxeira.runtime import failure_records
from auxeira.runtime.clients import ClientFactory
from auxeira.runtime.dead_letters import DeadLetterStore
from auxeira.runtime.failure_records import FailureRecords
from auxeira.runtime.objects import LocalObjects, S3Objects
from auxeira.runtime.shard_sources import KinesisSource
from consumers.handlers import cache
from consumers.sinks.memory import InMemoryCacheSink
from schemas import catalog
from schemas.envelope import encode
from schemas.secrets import REDACTED
from schemas.wire.dynamodb import serialize_item
from tests.factories import make_stored_item
from tests.kinesis_records import envelope, kinesis_record
from tests.stream_records import stream_record

STREAM = "auxeira-events-test"
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def aws(monkeypatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


def put_startups(kinesis: Any, n: int) -> list[dict[str, Any]]:
    """``n`` envelopes on a one-shard moto stream, read back as Lambda delivers them."""
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    for i in range(n):
        kinesis.put_record(StreamName=STREAM, Data=encode(envelope(f"STARTUP#s{i}|PROFILE")), PartitionKey=f"k{i}")
    source = KinesisSource(kinesis, STREAM)
    [shard] = source.shards()
    return source.read(shard.shard_id, source.iterator(shard.shard_id, None), 100).records


def discarded(lake: Any, records: list[dict[str, Any]], consumer: str = "cache", payload: bool = True) -> str:
    """A failure record the local runner writes for a discarded batch (optionally without payload)."""
    document = failure_records.build(
        records,
        consumer=consumer,
        condition="RetryAttemptsExhausted",
        invoke_count=3,
        function_error="Unhandled",
        at=AT,
    )
    if not payload:
        del document["payload"]
    return FailureRecords(lake).put(document, consumer=consumer)


def cache_dlq(lake: Any, sink: InMemoryCacheSink, kinesis: Any = None, failures: Any = None) -> Dlq:
    def handlers(consumer: str, observer: Any):
        return cache.build_handler(sink, DeadLetterStore(lake), observer=observer)

    return Dlq(Stores(lake, failures), handlers, RangeReader(SimpleNamespace(kinesis=kinesis, streams=None)))


def cached_keys(sink: InMemoryCacheSink) -> list[str]:
    return sorted(k.rsplit(":", 1)[-1] for k in sink.scan_keys("t1"))


def test_a_failure_record_with_payload_is_listed_by_consumer_and_its_batch_redriven_as_it_is(tmp_path) -> None:
    # GIVEN the local runner discarded a batch of three records of the cache mapping
    lake = LocalObjects(tmp_path)
    key = discarded(lake, [kinesis_record(envelope(f"STARTUP#s{i}|PROFILE")) for i in range(3)])
    sink = InMemoryCacheSink(namespace="test")
    dlq = cache_dlq(lake, sink)
    # WHEN listed and redriven
    [group] = dlq.listing().groups
    summary = dlq.redrive(dlq.plan())
    # THEN it was one failure record of the cache (3 records); all applied and it moved
    assert (group.consumer, group.error_type, group.failure_records, group.records) == (
        "cache",
        "RetryAttemptsExhausted",
        1,
        3,
    )
    [result] = summary.results
    assert result.outcome == "applied" and result.counts["applied"] == 3 and result.moved_to == f"redriven/{key}"
    assert cached_keys(sink) == [f"STARTUP#s{i}|PROFILE" for i in range(3)]
    assert list(lake.list("failures/")) == []
    assert (
        orjson.loads(lake.get(f"redriven/{key}"))["original"]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    )


def test_a_poison_record_of_a_failure_record_becomes_a_dead_letter_of_its_own_and_is_reported(tmp_path) -> None:
    # GIVEN a discarded batch holding one record that is not an envelope
    lake = LocalObjects(tmp_path)
    bad = kinesis_record(b"{not json", sequence="49000000000000000000000000777")
    discarded(lake, [kinesis_record(envelope("STARTUP#s1|PROFILE")), bad])
    sink = InMemoryCacheSink(namespace="test")
    # WHEN redriven
    summary = cache_dlq(lake, sink).redrive(cache_dlq(lake, sink).plan())
    # THEN the good record applied; the bad one is a dead letter (its own shard, its cause) and reported
    [result] = summary.results
    assert result.outcome == "still_poison" and cached_keys(sink) == ["STARTUP#s1|PROFILE"]
    [letter_id] = result.dead_letters
    letter = DeadLetterStore(lake).get(letter_id)
    assert letter.sequence_number == "49000000000000000000000000777" and letter.error_type == "PoisonRecordError"
    assert list(lake.list("failures/")) == [] and list(lake.list("dlq/")) == [letter_id]


def test_without_payload_the_records_are_read_back_from_the_stream_by_sequence_range(aws, tmp_path) -> None:
    # GIVEN five records on the stream, and a failure record of the middle three with no payload
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    records = put_startups(kinesis, 5)
    lake = LocalObjects(tmp_path)
    discarded(lake, records[1:4], payload=False)
    sink = InMemoryCacheSink(namespace="test")
    dlq = cache_dlq(lake, sink, kinesis)
    # WHEN planned, then redriven
    [step] = dlq.plan()
    summary = dlq.redrive([step])
    # THEN exactly the three records of the range were read and applied, and the record moved
    assert step.fetched is not None and step.fetched.retained == "all" and step.as_dict()["from"] == "stream"
    assert summary.results[0].outcome == "applied" and summary.results[0].moved_to
    assert cached_keys(sink) == [f"STARTUP#s{i}|PROFILE" for i in (1, 2, 3)]


class Trimmed:
    """A Kinesis client whose stream has trimmed the first ``lost`` records of the shard."""

    def __init__(self, inner: Any, records: list[dict[str, Any]], lost: int):
        self.inner, self.records, self.lost = inner, records, lost

    def get_shard_iterator(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        if self.lost >= len(self.records):
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, "GetShardIterator")
        oldest = self.records[self.lost]["kinesis"]["sequenceNumber"]
        if int(kwargs["StartingSequenceNumber"]) < int(oldest):
            kwargs["StartingSequenceNumber"] = oldest  # AWS starts at the trim horizon
        return self.inner.get_shard_iterator(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_past_retention_the_lost_records_are_reported_with_the_replay_to_run_and_the_record_stays(
    aws, tmp_path
) -> None:
    # GIVEN a failure record of three records without payload, the first two trimmed from the stream
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    records = put_startups(kinesis, 3)
    lake = LocalObjects(tmp_path)
    key = discarded(lake, records, payload=False)
    sink = InMemoryCacheSink(namespace="test")
    dlq = cache_dlq(lake, sink, Trimmed(kinesis, records, lost=2))
    # WHEN shown, then redriven
    shown = dlq.show(key)
    summary = dlq.redrive(dlq.plan())
    # THEN both say what is lost and what to run; the retained record is applied; the failure record stays
    assert shown is not None and shown["retention"]["retained"] == "partial" and len(shown["records"]) == 1
    [result] = summary.results
    assert result.outcome == "failed" and result.moved_to is None
    assert "2 of 3 record(s) no longer retained" in result.note
    assert "auxeira replay --projection cache --source lake --from" in result.note
    assert cached_keys(sink) == ["STARTUP#s2|PROFILE"] and list(lake.list("failures/")) == [key]


def test_a_range_the_stream_holds_none_of_is_failed_and_nothing_changes(aws, tmp_path) -> None:
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    records = put_startups(kinesis, 2)
    lake = LocalObjects(tmp_path)
    key = discarded(lake, records, payload=False)
    sink = InMemoryCacheSink(namespace="test")
    dlq = cache_dlq(lake, sink, Trimmed(kinesis, records, lost=2))
    summary = dlq.redrive(dlq.plan())
    [result] = summary.results
    assert (
        result.outcome == "failed"
        and "no longer retained" in result.note
        and "ResourceNotFoundException" in result.note
    )
    assert cached_keys(sink) == [] and list(lake.list("failures/")) == [key] and list(lake.list("redriven/")) == []


def lambda_key(shard: str) -> str:
    """A key as Lambda names it in the destination bucket: no suffix."""
    return f"aws/lambda/{uuid.uuid4()}/{shard}/2026/01/02/2026-01-02T03.04.05-{uuid.uuid4()}"


def aws_document(records: list[dict[str, Any]], function: str) -> dict[str, Any]:
    """A failure record exactly as Lambda writes it: raw records, ``payload`` an escaped string."""
    document = failure_records.build(
        records, consumer="x", condition="RecordAgeExceeded", invoke_count=1, function_error=None, at=AT
    )
    document["requestContext"]["functionArn"] = f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
    document["payload"] = orjson.dumps({"Records": records}).decode()  # unredacted, as on AWS
    return document


def test_lambda_layout_in_a_failure_bucket_is_listed_shown_redacted_and_moved_within_that_bucket(aws, tmp_path) -> None:
    # GIVEN Lambda's own records in the failure bucket: a cache batch, and a router batch with a secret
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="failures")
    bucket = S3Objects(s3, "failures")
    cache_key = lambda_key("shardId-000000000001")
    bucket.put(cache_key, orjson.dumps(aws_document([kinesis_record(envelope())], "auxeira-cache-prod")))
    user = make_stored_item("user", 1, password_hash="HASH-MARKER")
    table = catalog.table_of_entity("user").physical_name("prod")
    router_record = {
        "eventID": "e1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {"SequenceNumber": "100", "NewImage": serialize_item(user), "Keys": {}},
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-01-01T00:00:00.000",
    }
    router_key = lambda_key("shardId-00000001")
    bucket.put(router_key, orjson.dumps(aws_document([router_record], "auxeira-router-prod")))
    lake = LocalObjects(tmp_path)
    sink = InMemoryCacheSink(namespace="test")
    dlq = cache_dlq(lake, sink, failures=bucket)
    # WHEN listed, shown and the cache's redriven
    listing = dlq.listing()
    shown = dlq.show(f"s3://failures/{router_key}")
    summary = dlq.redrive([s for s in dlq.plan() if s.item.consumer == "cache"])
    # THEN ids name the bucket, consumers come from the function names, secrets never show
    assert sorted((i.id, i.consumer) for i in listing.items) == sorted(
        [(f"s3://failures/{cache_key}", "cache"), (f"s3://failures/{router_key}", "router")]
    )
    assert shown is not None and shown["consumer"] == "router"
    assert shown["records"][0]["dynamodb"]["NewImage"]["password_hash"] == {"S": REDACTED}
    assert b"HASH-MARKER" not in orjson.dumps(shown)
    # AND the redriven record moved within the failure bucket (raw images never reach the lake)
    assert summary.results[0].moved_to == f"s3://failures/redriven/{cache_key}"
    assert not bucket.exists(cache_key) and bucket.exists(f"redriven/{cache_key}")
    assert list(lake.list("")) == [] and cached_keys(sink) == ["STARTUP#s1|PROFILE"]


@pytest.mark.parametrize(
    ("function_arn", "stream_arn", "expected"),
    [
        ("local:function:cache", "arn:aws:kinesis:us-east-1:1:stream/s", ("cache", "cache")),
        ("local:function:router:auxeira-users-local", "", ("router", "router:auxeira-users-local")),
        ("arn:aws:lambda:eu-west-1:1:function:auxeira-counters-prod", "", ("counters", "auxeira-counters-prod")),
        ("arn:aws:lambda:eu-west-1:1:function:auxeira-prod-search:live", "", ("search", "auxeira-prod-search")),
        (
            "arn:aws:lambda:eu-west-1:1:function:other",
            "arn:aws:dynamodb:eu-west-1:1:table/t/stream/x",
            ("router", "other"),
        ),
        ("arn:aws:lambda:eu-west-1:1:function:other", "arn:aws:kinesis:eu-west-1:1:stream/s", ("unknown", "other")),
    ],
)
def test_the_consumer_of_a_failure_record_comes_from_its_function_then_its_stream(function_arn, stream_arn, expected):
    assert consumer_of(function_arn, stream_arn) == expected


class TableStream:
    """A DynamoDB stream of one shard holding ``records`` (moto's DescribeStream is not implemented)."""

    def __init__(self, records: list[dict[str, Any]]):
        self.records = records

    def get_shard_iterator(self, *, StreamArn: str, ShardId: str, ShardIteratorType: str, SequenceNumber: str) -> Any:
        assert ShardIteratorType == "AT_SEQUENCE_NUMBER"
        at = next(i for i, r in enumerate(self.records) if r["dynamodb"]["SequenceNumber"] == SequenceNumber)
        return {"ShardIterator": str(at)}

    def get_records(self, *, ShardIterator: str, Limit: int) -> Any:
        at = int(ShardIterator)
        return {"Records": self.records[at : at + Limit], "NextShardIterator": str(at + Limit)}


def test_a_table_stream_range_without_payload_is_read_back_and_routed_through_the_environment(aws, tmp_path) -> None:
    # GIVEN a table stream holding four inserts, the events stream, and the router's failure
    # record of the middle two without payload
    table = catalog.table_of_entity("startup").physical_name("test")
    changes = [
        stream_record(table, "INSERT", new=make_stored_item("startup", n), sequence=str(100 + n)) for n in range(4)
    ]
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    env = Environment(name="test", clients=ClientFactory(region="us-east-1"), lake_root=str(tmp_path))
    env.streams = TableStream(changes)  # the environment's own client, replaced
    document = failure_records.build(
        changes[1:3],
        consumer="router:startups",
        condition="RecordAgeExceeded",
        invoke_count=1,
        function_error=None,
        at=AT,
        shard_id="shardId-00000001",
    )
    del document["payload"]
    FailureRecords(env.objects).put(document, consumer="router:startups")
    # WHEN redriven with the environment's own router
    dlq = Dlq.of(env)
    summary = dlq.redrive(dlq.plan())
    # THEN the two changes were read from the table stream and put on the events stream
    [result] = summary.results
    assert (result.consumer, result.outcome, result.counts["applied"]) == ("router", "applied", 2)
    events = KinesisSource(kinesis, STREAM)
    [shard] = events.shards()
    out = events.read(shard.shard_id, events.iterator(shard.shard_id, None), 100).records
    keys = sorted(orjson.loads(base64.b64decode(r["kinesis"]["data"]))["key"] for r in out)
    assert keys == ["STARTUP#s1|PROFILE", "STARTUP#s2|PROFILE"]


def test_the_environment_failure_bucket_is_read_without_an_option(aws, tmp_path) -> None:
    # GIVEN Lambda's record in the failure bucket the environment names (AUXEIRA_FAILURES_ROOT)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="failures")
    key = lambda_key("shardId-000000000001")
    S3Objects(s3, "failures").put(key, orjson.dumps(aws_document([kinesis_record(envelope())], "auxeira-cache-prod")))
    env = Environment(
        name="prod", clients=ClientFactory(region="us-east-1"), lake_root=str(tmp_path), failures_root="s3://failures"
    )
    # WHEN listed with no --failures
    listing = Dlq.of(env).listing()
    # THEN the record is there, named by the bucket
    assert [(i.id, i.consumer) for i in listing.items] == [(f"s3://failures/{key}", "cache")]
