"""KinesisWriter: chunking, retries of failed records only, backoff, per-key order.

Failures are injected with ``FakeKinesis`` (moto cannot fail a record on demand); the
happy path and the PutRecords limits are also checked against moto.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from auxeira.runtime.retry import full_jitter
from producers.kinesis_writer import (
    DEADLINE_EXCEEDED,
    MAX_RECORD_BYTES,
    MAX_REQUEST_BYTES,
    ORDER_BLOCKED,
    RECORD_TOO_LARGE,
    KinesisWriter,
    OutgoingRecord,
    chunk_records,
    effective_partition_key,
)

PTE = "ProvisionedThroughputExceededException"
MiB = 1024 * 1024


# --- helpers -------------------------------------------------------------------------


class FakeKinesis:
    """An in-memory stream that fails what it is told to.

    ``record_errors(call, position, entry)`` returns an error code for one entry, or
    None to accept it; ``request_errors[call]`` is raised for a whole request.
    ``accepted`` is the stream: accepted entries, in the order they were stored.
    """

    def __init__(
        self,
        record_errors: Callable[[int, int, dict], str | None] = lambda call, pos, entry: None,
        request_errors: dict[int, Exception] | None = None,
    ) -> None:
        self.record_errors = record_errors
        self.request_errors = request_errors or {}
        self.calls: list[list[dict[str, Any]]] = []
        self.accepted: list[dict[str, Any]] = []

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        call = len(self.calls)
        self.calls.append(list(Records))
        if call in self.request_errors:
            raise self.request_errors[call]
        results = []
        for position, entry in enumerate(Records):
            code = self.record_errors(call, position, entry)
            if code:
                results.append({"ErrorCode": code, "ErrorMessage": f"fake {code}"})
            else:
                self.accepted.append(entry)
                sequence_number = str(len(self.accepted))
                results.append({"ShardId": "shardId-000000000000", "SequenceNumber": sequence_number})
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def rec(index: int, key: str, size: int = 0) -> OutgoingRecord:
    """A record whose data names its input position; padded to ``size`` bytes if given."""
    data = f"{index}|".encode()
    return OutgoingRecord(data + b"x" * max(0, size - len(data)), key, ref=index)


def index_of(entry: dict[str, Any]) -> int:
    return int(entry["Data"].split(b"|", 1)[0])


def client_error(code: str, status: int = 400) -> ClientError:
    response = {"Error": {"Code": code, "Message": f"fake {code}"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutRecords")  # type: ignore[arg-type]


def fail_if(predicate: Callable[[dict[str, Any]], bool], code: str) -> Callable[[int, int, dict], str | None]:
    """A ``record_errors`` that fails every entry matching ``predicate`` with ``code``."""
    return lambda call, pos, entry: code if predicate(entry) else None


def make_writer(client: Any, sleeps: list[float] | None = None, **kwargs: Any) -> KinesisWriter:
    kwargs.setdefault("rng", lambda: 0.5)
    sleep = (sleeps if sleeps is not None else []).append
    return KinesisWriter(client, "events", sleep=sleep, **kwargs)


def refs(pairs: list[tuple]) -> list[Any]:
    return [record.ref for record, *_ in pairs]


def codes(result_failed: list[tuple]) -> dict[Any, str]:
    return {record.ref: code for record, code, _ in result_failed}


# --- chunk_records ---------------------------------------------------------------------


def test_chunks_hold_at_most_500_records() -> None:
    # GIVEN 1,201 small records WHEN chunked THEN 500 + 500 + 201, input order kept
    records = [rec(i, f"k{i}") for i in range(1201)]
    chunks = list(chunk_records(records))
    assert [len(c) for c in chunks] == [500, 500, 201]
    assert [r for c in chunks for r in c] == records


def test_chunks_hold_at_most_5_mib_counting_partition_keys() -> None:
    # GIVEN six records whose data alone fits in 5 MiB but data + keys does not
    data_size = MAX_REQUEST_BYTES // 6  # 6 * 873_813 = 5 MiB - 2
    over = [OutgoingRecord(b"x" * data_size, "a") for _ in range(6)]
    fits = [OutgoingRecord(b"x" * (data_size - 1), "a") for _ in range(6)]
    # WHEN chunked THEN the key bytes tip the first over the limit, not the second
    assert [len(c) for c in chunk_records(over)] == [5, 1]
    assert [len(c) for c in chunk_records(fits)] == [6]


def test_chunk_of_exactly_5_mib_is_one_request() -> None:
    # GIVEN 11 records of exactly 1 MiB (data + key) WHEN chunked THEN 5 + 5 + 1
    records = [OutgoingRecord(b"x" * (MAX_RECORD_BYTES - 2), f"k{i % 10}") for i in range(11)]
    assert [len(c) for c in chunk_records(records)] == [5, 5, 1]


def test_record_over_1_mib_is_rejected_counting_utf8_key_bytes() -> None:
    # GIVEN records at and one byte over 1 MiB, the key "é" counting 2 bytes
    at_limit = OutgoingRecord(b"x" * (MiB - 2), "é")
    over_limit = OutgoingRecord(b"x" * (MiB - 1), "é")
    small = rec(0, "a")
    rejected: list[OutgoingRecord] = []
    # WHEN chunked THEN the one over the limit is handed back, never yielded
    assert list(chunk_records([at_limit, over_limit, small], rejected)) == [[at_limit, small]]
    assert rejected == [over_limit]


def test_oversized_record_without_rejected_list_raises_instead_of_vanishing() -> None:
    with pytest.raises(ValueError, match="over 1 MiB"):
        list(chunk_records([OutgoingRecord(b"x" * MiB, "k")]))


# --- partition keys ----------------------------------------------------------------------


def test_long_partition_keys_are_hashed_deterministically() -> None:
    # GIVEN keys at, over, and (in UTF-16 units) over the 256-character limit
    at_limit, long_a, long_b = "k" * 256, "k" * 256 + "a", "k" * 256 + "b"
    emoji = "🙂" * 129  # 129 code points, 258 UTF-16 code units
    # THEN short keys pass through; long keys become a sha256 that is pinned across
    # processes and releases (a golden value, unlike Python's salted hash())
    assert effective_partition_key(at_limit) == at_limit
    assert effective_partition_key(long_a) == f"sha256:{hashlib.sha256(long_a.encode()).hexdigest()}"
    assert effective_partition_key("k" * 300) == (
        "sha256:17b16d8ef494060fefa36a6a41567b8c32d213a17e02b7eeae86158cc4495461"
    )
    assert effective_partition_key(long_a) != effective_partition_key(long_b)
    assert effective_partition_key(emoji).startswith("sha256:")
    assert len(effective_partition_key(long_a)) <= 256


def test_writer_sends_the_hashed_key_and_returns_the_original_record() -> None:
    # GIVEN a record with a 300-character key
    record = OutgoingRecord(b"payload", "tenant/" + "x" * 293, ref="r1")
    client = FakeKinesis()
    # WHEN put twice THEN both sends use the same hashed key, and the caller gets its record
    for _ in range(2):
        result = make_writer(client).put([record])
        assert result.succeeded == [(record, "shardId-000000000000", str(len(client.accepted)))]
    assert client.calls[0][0]["PartitionKey"] == client.calls[1][0]["PartitionKey"]
    assert client.calls[0][0]["PartitionKey"] == effective_partition_key(record.partition_key)


def test_empty_partition_key_is_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        OutgoingRecord(b"x", "")
    with pytest.raises(TypeError):
        OutgoingRecord("not bytes", "k")  # type: ignore[arg-type]


# --- retries ------------------------------------------------------------------------------


def test_oversized_record_fails_and_the_others_are_delivered() -> None:
    # GIVEN a 1 MiB+ record between small ones, one small record after it on its key
    big = OutgoingRecord(b"x" * MiB, "b", ref="big")
    records = [rec(0, "a"), big, rec(2, "c"), rec(3, "b")]
    client = FakeKinesis()
    # WHEN put
    result = make_writer(client).put(records)
    # THEN the big one was never sent and fails as RecordTooLarge; the record after it
    # on key "b" is OrderBlocked (not sent either); the rest is delivered
    assert refs(result.succeeded) == [0, 2]
    assert codes(result.failed) == {"big": RECORD_TOO_LARGE, 3: ORDER_BLOCKED}
    assert sorted(index_of(e) for call in client.calls for e in call) == [0, 2]


def test_partial_failure_resends_only_the_failed_records() -> None:
    # GIVEN six records on distinct keys; the first response fails positions 1 and 4
    records = [rec(i, f"k{i}") for i in range(6)]
    failures = {(0, 1): PTE, (0, 4): "InternalFailure"}
    client = FakeKinesis(record_errors=lambda call, pos, entry: failures.get((call, pos)))
    sleeps: list[float] = []
    # WHEN put
    result = make_writer(client, sleeps).put(records)
    # THEN the second request holds exactly records 1 and 4, then all have succeeded
    assert [[index_of(e) for e in call] for call in client.calls] == [[0, 1, 2, 3, 4, 5], [1, 4]]
    assert refs(result.succeeded) == [0, 1, 2, 3, 4, 5]
    assert result.failed == []
    assert (result.requests, result.retries, result.throttles) == (2, 2, 1)
    assert len(sleeps) == 1


def test_a_keys_next_record_waits_until_the_previous_one_is_stored() -> None:
    # GIVEN A0, B0, A1 and A0 failing once
    records = [rec(0, "A"), rec(1, "B"), rec(2, "A")]
    client = FakeKinesis(record_errors=lambda call, pos, entry: PTE if (call, pos) == (0, 0) else None)
    # WHEN put
    result = make_writer(client).put(records)
    # THEN A1 never shares a request with A0 and goes out only after A0 was stored
    assert [[index_of(e) for e in call] for call in client.calls] == [[0, 1], [0], [2]]
    assert [index_of(e) for e in client.accepted] == [1, 0, 2]
    assert refs(result.succeeded) == [0, 1, 2]


@pytest.mark.parametrize(
    ("error", "throttled"),
    [
        (client_error(PTE), True),
        (client_error("ThrottlingException"), True),
        (client_error("InternalFailure", 500), False),
        (client_error("SomethingNew", 503), False),
        (EndpointConnectionError(endpoint_url="https://kinesis.example"), False),
        (ReadTimeoutError(endpoint_url="https://kinesis.example"), False),
    ],
    ids=["throughput", "throttling", "internal", "5xx", "connection", "read-timeout"],
)
def test_whole_request_failure_retries_the_whole_chunk(error: Exception, throttled: bool) -> None:
    # GIVEN the first request fails as a whole
    records = [rec(i, f"k{i}") for i in range(3)]
    client = FakeKinesis(request_errors={0: error})
    # WHEN put THEN the same chunk is sent again and everything succeeds
    result = make_writer(client).put(records)
    assert client.calls[1] == client.calls[0]
    assert refs(result.succeeded) == [0, 1, 2]
    assert (result.requests, result.retries, result.throttles) == (2, 3, 3 if throttled else 0)


def test_non_retryable_request_error_fails_the_chunk_without_retrying() -> None:
    # GIVEN a stream that does not exist
    client = FakeKinesis(request_errors={0: client_error("ResourceNotFoundException")})
    sleeps: list[float] = []
    # WHEN put THEN one request, no sleep, every record failed with the service's code
    result = make_writer(client, sleeps).put([rec(0, "a"), rec(1, "b")])
    assert codes(result.failed) == {0: "ResourceNotFoundException", 1: "ResourceNotFoundException"}
    assert (result.requests, sleeps) == (1, [])


def test_non_retryable_record_error_fails_at_once_and_blocks_its_key() -> None:
    # GIVEN record 0 refused with InvalidArgumentException
    client = FakeKinesis(record_errors=fail_if(lambda e: index_of(e) == 0, "InvalidArgumentException"))
    sleeps: list[float] = []
    # WHEN put
    result = make_writer(client, sleeps).put([rec(0, "a"), rec(1, "b"), rec(2, "a")])
    # THEN it is sent once, fails; record 2 (same key) is OrderBlocked, never sent
    assert codes(result.failed) == {0: "InvalidArgumentException", 2: ORDER_BLOCKED}
    assert refs(result.succeeded) == [1]
    assert [[index_of(e) for e in call] for call in client.calls] == [[0, 1]]
    assert sleeps == []


def test_gives_up_after_max_attempts_and_returns_failures_with_codes() -> None:
    # GIVEN key "hot" always throttled, key "cold" fine
    client = FakeKinesis(record_errors=fail_if(lambda e: e["PartitionKey"] == "hot", PTE))
    records = [rec(0, "hot"), rec(1, "cold"), rec(2, "hot"), rec(3, "cold")]
    # WHEN put with max_attempts=3
    result = make_writer(client, max_attempts=3).put(records)
    # THEN hot0 was sent 3 times and fails with the service's code; hot2 never sent
    sent = [index_of(e) for call in client.calls for e in call]
    assert (sent.count(0), sent.count(2)) == (3, 0)
    assert [(r.ref, code, msg) for r, code, msg in result.failed] == [
        (0, PTE, f"fake {PTE}"),
        (2, ORDER_BLOCKED, f"not sent: an earlier record with this partition key failed ({PTE})"),
    ]
    assert refs(result.succeeded) == [1, 3]
    assert (result.retries, result.throttles) == (2, 3)


def test_backoff_delays_follow_full_jitter() -> None:
    # GIVEN one record that always fails, and pinned jitter draws
    draws = iter([0.9, 0.1, 0.5, 0.99, 0.0, 0.7])
    sleeps: list[float] = []
    client = FakeKinesis(record_errors=fail_if(lambda e: True, PTE))
    writer = make_writer(client, sleeps, max_attempts=7, base_delay=0.1, max_delay=0.5, rng=lambda: next(draws))
    # WHEN put
    writer.put([rec(0, "a")])
    # THEN retry n waited draw * min(max_delay, base_delay * 2**n)
    caps = [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]
    assert sleeps == pytest.approx([d * c for d, c in zip([0.9, 0.1, 0.5, 0.99, 0.0, 0.7], caps)])


@given(retry=st.integers(0, 2000), draw=st.floats(0, 1, exclude_max=True))
def test_full_jitter_stays_within_bounds(retry: int, draw: float) -> None:
    delay = full_jitter(retry, base=0.05, cap=2.0, rng=lambda: draw)
    assert 0 <= delay <= min(2.0, 0.05 * 2.0 ** min(retry, 62))


def test_deadline_stops_retrying_before_sleeping_past_it() -> None:
    # GIVEN key A always throttled, key B with three records, a 1 s deadline, a fake clock
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    client = FakeKinesis(record_errors=fail_if(lambda e: e["PartitionKey"] == "A", PTE))
    writer = KinesisWriter(
        client,
        "events",
        base_delay=0.4,
        max_delay=10,
        deadline_seconds=1.0,
        sleep=sleep,
        rng=lambda: 0.99,
        clock=lambda: now[0],
    )
    # WHEN put
    result = writer.put([rec(0, "A"), rec(1, "B"), rec(2, "B"), rec(3, "B")])
    # THEN it slept 0.396 s once, skipped the 0.792 s sleep that would cross the deadline,
    # and returned A0 with its last error and B's unsent record as DeadlineExceeded
    assert sleeps == pytest.approx([0.396])
    assert refs(result.succeeded) == [1, 2]
    assert codes(result.failed) == {0: PTE, 3: DEADLINE_EXCEEDED}


# --- the order property ------------------------------------------------------------------

OUTCOMES = st.sampled_from(
    [None, None, None, PTE, "InternalFailure", "KMSThrottlingException", "InvalidArgumentException"]
)


@settings(max_examples=300, deadline=None)
@given(
    keys=st.lists(st.sampled_from("abcd"), min_size=1, max_size=40),
    outcomes=st.lists(OUTCOMES, max_size=120),
    request_failures=st.lists(st.sampled_from([None, PTE, "InternalFailure"]), max_size=10),
)
def test_per_key_order_survives_any_failure_pattern(
    keys: list[str], outcomes: list[str | None], request_failures: list[str | None]
) -> None:
    # GIVEN records over a few keys and a random pattern of record and request failures
    records = [rec(i, key) for i, key in enumerate(keys)]
    draws: Iterator[str | None] = iter(outcomes)
    client = FakeKinesis(
        record_errors=lambda call, pos, entry: next(draws, None),
        request_errors={i: client_error(code) for i, code in enumerate(request_failures) if code},
    )
    # WHEN put
    result = make_writer(client, max_attempts=3, rng=random.Random(0).random).put(records)
    # THEN every record is reported exactly once
    assert sorted(refs(result.succeeded) + refs(result.failed)) == list(range(len(records)))
    # AND per key, the stream holds a prefix of the input, in input order, each once:
    # exactly what succeeded; after the first failure, only OrderBlocked (never sent)
    sent = {index_of(e) for call in client.calls for e in call}
    for key in set(keys):
        wanted = [i for i, k in enumerate(keys) if k == key]
        stream = [index_of(e) for e in client.accepted if e["PartitionKey"] == key]
        assert stream == wanted[: len(stream)]
        assert [r.ref for r, *_ in result.succeeded if r.partition_key == key] == stream
        failed = [(r.ref, code) for r, code, _ in result.failed if r.partition_key == key]
        assert [ref for ref, _ in failed] == wanted[len(stream) :]
        assert all(code == ORDER_BLOCKED and ref not in sent for ref, code in failed[1:])
    # AND a key never had two records in one request (how the order is kept)
    for call in client.calls:
        call_keys = [e["PartitionKey"] for e in call]
        assert len(call_keys) == len(set(call_keys))


# --- against moto ------------------------------------------------------------------------


@pytest.fixture
def kinesis(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield boto3.client("kinesis", region_name="us-east-1")


def read_stream(client: Any, stream: str) -> dict[str, list[dict[str, Any]]]:
    """Every record of every shard, in shard order, keyed by shard id."""
    shards: dict[str, list[dict[str, Any]]] = {}
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = shards.setdefault(shard["ShardId"], [])
        while True:
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page["NextShardIterator"]
    return shards


def test_moto_1200_records_in_three_requests_are_all_readable(kinesis: Any) -> None:
    # GIVEN a two-shard stream and 1,200 records on distinct keys
    kinesis.create_stream(StreamName="writer-1200", ShardCount=2)
    records = [rec(i, f"entity-{i}", size=100) for i in range(1200)]
    # WHEN put
    result = KinesisWriter(kinesis, "writer-1200").put(records)
    # THEN 3 requests, all succeeded, and get_records returns each record where the
    # writer said it went, with the sequence number it reported
    assert (result.requests, result.retries, result.failed) == (3, 0, [])
    shards = read_stream(kinesis, "writer-1200")
    stored = {(shard, r["SequenceNumber"]): r["Data"] for shard, rs in shards.items() for r in rs}
    assert len(stored) == 1200
    assert {stored[(shard, seq)] for _, shard, seq in result.succeeded} == {r.data for r in records}
    assert all(stored[(shard, seq)] == r.data for r, shard, seq in result.succeeded)


def test_moto_keeps_per_key_order_and_skips_an_oversized_record(kinesis: Any) -> None:
    # GIVEN 30 records over 3 keys and one 1 MiB+ record on a fourth key; moto (like
    # Kinesis) refuses a whole request holding an oversized record
    kinesis.create_stream(StreamName="writer-order", ShardCount=2)
    big = OutgoingRecord(b"x" * MiB, "z", ref="big")
    records = [rec(i, "abc"[i % 3]) for i in range(30)] + [big]
    # WHEN put
    result = KinesisWriter(kinesis, "writer-order").put(records)
    # THEN the oversized one fails alone, and each key reads back in input order
    assert codes(result.failed) == {"big": RECORD_TOO_LARGE}
    for shard_records in read_stream(kinesis, "writer-order").values():
        for key in "abc":
            got = [index_of({"Data": r["Data"]}) for r in shard_records if r["PartitionKey"] == key]
            assert got == sorted(got)
    assert len(result.succeeded) == 30
