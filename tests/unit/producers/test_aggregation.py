"""KPL aggregation: round trips through the consumers' decoding, routing by bucket, poison."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from aws_kinesis_agg.deaggregator import deaggregate_records
from moto import mock_aws

from auxeira.runtime.bus import envelopes_of
from auxeira.runtime.dead_letters import LocalDeadLetters
from consumers.handlers.cache import build_handler
from consumers.sinks.memory import InMemoryCacheSink
from producers.aggregation import (
    MAGIC,
    Aggregator,
    bucket_of,
    bucket_partition_key,
    deaggregate,
    is_aggregated,
)
from producers.kinesis_writer import MAX_RECORD_BYTES, OutgoingRecord, record_size
from producers.publisher import Publisher
from producers.stream_router import partition_key
from schemas.envelope import Envelope, encode
from schemas.errors import PoisonRecordError
from schemas.events import PageView, to_envelope
from tests.kinesis_records import envelope as startup_envelope
from tests.kinesis_records import kinesis_event, kinesis_record

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def view(n: int, user: str = "u1", size: int = 0) -> Envelope:
    event = PageView(
        view_id=f"v{n}",
        tenant_id="t1",
        user_id=user,
        path=f"/p/{n}",
        properties={"pad": "x" * size},
        occurred_at=T0 + timedelta(seconds=n),
    )
    return to_envelope(event, "web")


def outgoing(envelope: Envelope) -> OutgoingRecord:
    return OutgoingRecord(encode(envelope), partition_key(envelope), ref=envelope)


def test_aggregated_records_round_trip_through_the_consumers_decoding():
    # GIVEN 300 page views aggregated into a few records
    envelopes = [view(n) for n in range(300)]
    records = Aggregator(buckets=4).aggregate([outgoing(e) for e in envelopes])
    assert len(records) <= 4 and all(is_aggregated(r.data) for r in records)
    # WHEN the consumer decodes each record THEN it gets every envelope back, unchanged,
    # in the order of the records each aggregated record carries
    decoded = [e for r in records for e in envelopes_of(r.data)]
    assert sorted(decoded, key=lambda e: e.key) == sorted(envelopes, key=lambda e: e.key)
    for record in records:
        assert envelopes_of(record.data) == [member.ref for member in record.ref]


def test_the_format_is_the_one_the_aws_deaggregator_reads():
    # GIVEN an aggregated record in a Lambda-shaped event
    envelopes = [view(n) for n in range(5)]
    [record] = Aggregator(buckets=1).aggregate([outgoing(e) for e in envelopes])
    lambda_record = kinesis_record(record.data, partition_key=record.partition_key)
    # WHEN the package's own deaggregator opens it THEN it finds our user records and keys
    users = deaggregate_records([lambda_record])
    assert [base64.b64decode(u["kinesis"]["data"]) for u in users] == [encode(e) for e in envelopes]
    assert [u["kinesis"]["partitionKey"] for u in users] == [partition_key(e) for e in envelopes]


def test_a_consumer_handler_applies_every_event_of_an_aggregated_record(tmp_path):
    # GIVEN 50 startup changes packed into one aggregated Kinesis record
    envelopes = [startup_envelope(f"STARTUP#s{n}|PROFILE", 1) for n in range(50)]
    [record] = Aggregator(buckets=1).aggregate([outgoing(e) for e in envelopes])
    sink = InMemoryCacheSink()
    handle = build_handler(sink, LocalDeadLetters(tmp_path))
    # WHEN the cache consumer reads it THEN every one of them is applied
    response = handle(kinesis_event(kinesis_record(record.data)), None)
    assert response == {"batchItemFailures": []}
    assert all(sink.get(f"aux:local:t1:startup:STARTUP#s{n}|PROFILE") is not None for n in range(50))


def test_every_event_of_a_key_travels_under_one_partition_key_in_order():
    # GIVEN three users' events interleaved, in flushes that split some buckets
    aggregator = Aggregator(buckets=8, max_record_bytes=20_000)
    envelopes = [
        to_envelope(
            PageView(
                view_id="same",
                tenant_id="t1",
                user_id="u",
                path="/",
                properties={"n": n, "pad": "y" * 3_000},
                occurred_at=T0 + timedelta(seconds=n),
            ),
            "web",
        )
        for n in range(20)
    ]
    records = aggregator.aggregate([outgoing(e) for e in envelopes])
    # THEN one key's events are in several records with the same partition key, in order
    assert len(records) > 1
    assert {r.partition_key for r in records} == {aggregator.routing_key("t1:page_view:same")}
    assert [e.after["properties"]["n"] for r in records for e in envelopes_of(r.data)] == list(range(20))
    assert all(record_size(r) <= 20_000 for r in records)


def test_a_bucket_key_hashes_into_its_own_bucket():
    # (so on evenly split power-of-two shards it lands where its members would)
    for bucket in range(256):
        assert bucket_of(bucket_partition_key(bucket, 256), 256) == bucket
    with pytest.raises(ValueError):
        Aggregator(buckets=3)


def test_aggregated_user_records_stay_on_their_own_shard_on_moto():
    # GIVEN a 4-shard stream and an aggregating publisher with many keys
    with mock_aws():
        client = boto3.client("kinesis", region_name="us-east-1")
        client.create_stream(StreamName="events", ShardCount=4)
        with Publisher(client, "events", name="web", aggregate=True, linger_seconds=None) as publisher:
            for n in range(400):
                publisher.publish(PageView(view_id=f"v{n}", tenant_id="t1", user_id="u", path="/", occurred_at=T0))
        shards = client.list_shards(StreamName="events")["Shards"]
        seen = 0
        for shard in shards:
            low, high = (int(shard["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
            iterator = client.get_shard_iterator(
                StreamName="events", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for record in client.get_records(ShardIterator=iterator, Limit=10_000)["Records"]:
                for envelope in envelopes_of(record["Data"]):
                    # THEN each event is on the shard its own partition key hashes to
                    digest = int.from_bytes(hashlib.md5(partition_key(envelope).encode()).digest(), "big")
                    assert low <= digest <= high
                    seen += 1
    assert seen == 400


def test_an_event_too_big_to_share_a_record_is_sent_plain_under_its_bucket_key():
    # GIVEN an event that fits a record alone (with the bucket key) but not with the
    # aggregation framing (magic, digest, key table: > 20 bytes)
    aggregator = Aggregator(buckets=1)
    room = MAX_RECORD_BYTES - len(bucket_partition_key(0, 1)) - 10
    small, big = view(1), view(2, size=room - len(encode(view(2))))
    assert len(encode(big)) == room
    records = aggregator.aggregate([outgoing(small), outgoing(big), outgoing(view(3))])
    kinds = [(is_aggregated(r.data), len(r.ref)) for r in records]
    assert kinds == [(True, 1), (False, 1), (True, 1)]
    assert {r.partition_key for r in records} == {bucket_partition_key(0, 1)}
    assert [e.key for r in records for e in envelopes_of(r.data)] == ["v1", "v2", "v3"]


def test_plain_records_pass_through_deaggregation_unchanged():
    data = encode(view(1))
    assert deaggregate(data) == [data]


@pytest.mark.parametrize(
    ("corrupt", "why"),
    [
        (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "MD5"),
        (lambda d: MAGIC + b"\xff\xff\xff" + hashlib.md5(b"\xff\xff\xff").digest(), "protobuf"),
        # a user record pointing at partition key #5 of a one-key table
        (lambda d: MAGIC + (body := b"\x0a\x01k\x1a\x04\x08\x05\x1a\x00") + hashlib.md5(body).digest(), "index"),
    ],
)
def test_a_corrupt_aggregated_record_is_poison(corrupt, why):
    [record] = Aggregator(buckets=1).aggregate([outgoing(view(1))])
    with pytest.raises(PoisonRecordError, match=why):
        envelopes_of(corrupt(record.data))


def test_one_bad_user_record_poisons_its_aggregated_record_naming_its_position():
    good = outgoing(view(1))
    bad = OutgoingRecord(b'{"not": "an envelope"}', good.partition_key)
    [record] = Aggregator(buckets=1).aggregate([good, bad, outgoing(view(2))])
    with pytest.raises(PoisonRecordError, match="user record 1 of 3"):
        envelopes_of(record.data)
