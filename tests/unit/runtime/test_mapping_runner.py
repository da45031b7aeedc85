"""The local event source mapping behaves as Lambda's, from the same mapping spec: checkpoints,
partial failures, backoff, giving up by attempts and by record age (to an S3-shaped failure
record), resharding, and one runner per shard."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pytest

from auxeira.runtime import failure_records
from auxeira.runtime.checkpoints import Checkpoints
from auxeira.runtime.failure_records import FailureRecords
from auxeira.runtime.mapping_runner import LocalEventSourceMapping
from auxeira.runtime.objects import LocalObjects
from auxeira.runtime.retry import RetryPolicy
from auxeira.runtime.shard_sources import ReadResult, Shard
from schemas.resources import CHECKPOINTS_TABLE, MappingSpec
from tests.moto_tables import moto_dynamodb

NOW = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def checkpoints(monkeypatch):
    with moto_dynamodb(monkeypatch, [CHECKPOINTS_TABLE], "t") as client:
        yield Checkpoints(client, CHECKPOINTS_TABLE.physical_name("t"), clock=CLOCK)


CLOCK = Clock()


@pytest.fixture(autouse=True)
def _reset_clock():
    CLOCK.now = NOW


@dataclass
class FakeSource:
    """Shards as lists of sequence numbers; ``closed`` shards end (iterator None) after their last record."""

    records: dict[str, list[int]]
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    arrival: dict[int, float] = field(default_factory=dict)  # sequence -> epoch seconds (default: NOW)
    arn: str = "arn:aws:kinesis:us-east-1:123456789012:stream/fake"
    event_source: str = "aws:kinesis"

    def shards(self):
        return [Shard(s, self.parents.get(s, ())) for s in self.records]

    def iterator(self, shard_id, after):
        seqs = self.records[shard_id]
        start = 0 if after is None else next(i for i, s in enumerate(seqs) if s == int(after)) + 1
        return f"{shard_id}@{start}"

    def read(self, shard_id, iterator, limit):
        position = int(iterator.split("@")[1])
        seqs = self.records[shard_id][position : position + limit]
        end = position + len(seqs)
        done = shard_id in self.closed and end >= len(self.records[shard_id]) and not seqs
        records = [
            {
                "kinesis": {
                    "sequenceNumber": str(s),
                    "data": base64.b64encode(b"{}").decode(),
                    "approximateArrivalTimestamp": self.arrival.get(s, NOW),
                },
                "eventID": f"{shard_id}:{s}",
                "eventSourceARN": self.arn,
            }
            for s in seqs
        ]
        return ReadResult(records, None if done else f"{shard_id}@{end}")


class Recorder:
    """A handler that records deliveries and fails the sequence numbers it is told to."""

    def __init__(self, fail: dict[int, int] | None = None, raise_times: int = 0):
        self.fail = dict(fail or {})  # sequence -> how many more deliveries fail
        self.raise_times = raise_times
        self.deliveries: list[list[int]] = []

    def __call__(self, event, context):
        seqs = [int(r["kinesis"]["sequenceNumber"]) for r in event["Records"]]
        self.deliveries.append(seqs)
        if self.raise_times:
            self.raise_times -= 1
            raise RuntimeError("handler crashed")
        failed = []
        for s in seqs:
            if self.fail.get(s, 0) > 0:
                self.fail[s] -= 1
                failed.append({"itemIdentifier": str(s)})
        return {"batchItemFailures": failed}


NO_WAIT = RetryPolicy(base=0.0, cap=0.0, max_attempts=10_000)


def _mapping(source, handler, tmp_path, checkpoints, *, spec=None, redelivery=NO_WAIT, **kw):
    spec = spec or MappingSpec("c", "h.handler", "kinesis", batch_size=100)
    return LocalEventSourceMapping(
        source=source,
        handler=handler,
        checkpoints=checkpoints,
        consumer="c",
        spec=spec,
        failures=FailureRecords(LocalObjects(tmp_path)),
        redelivery=redelivery,
        clock=CLOCK,
        **kw,
    )


def _drain(mapping, passes=10):
    for _ in range(passes):
        mapping.poll()


def _failures(tmp_path):
    return list(FailureRecords(LocalObjects(tmp_path)).list())


def test_partial_failure_redelivers_from_the_lowest_failed_sequence(tmp_path, checkpoints):
    # GIVEN records 1..5 where 3 fails once
    handler = Recorder(fail={3: 1})
    mapping = _mapping(FakeSource({"s0": [1, 2, 3, 4, 5]}), handler, tmp_path, checkpoints)
    # WHEN polled until quiet
    _drain(mapping)
    # THEN 1..2 were checkpointed, 3..5 delivered again, and the checkpoint reached 5
    assert handler.deliveries[:2] == [[1, 2, 3, 4, 5], [3, 4, 5]]
    assert checkpoints.get("c", "s0").sequence_number == "5"


def test_a_raising_handler_gets_the_whole_batch_again(tmp_path, checkpoints):
    handler = Recorder(raise_times=2)
    _drain(_mapping(FakeSource({"s0": [1, 2]}), handler, tmp_path, checkpoints))
    assert handler.deliveries[:3] == [[1, 2], [1, 2], [1, 2]]
    assert checkpoints.get("c", "s0").sequence_number == "2"


def test_a_failing_shard_backs_off_while_the_others_go_on(tmp_path, checkpoints):
    # GIVEN s0's record 1 fails once, and a redelivery backoff of at least one second
    handler = Recorder(fail={1: 1})
    source = FakeSource({"s0": [1], "s1": [10, 11]})
    mapping = _mapping(
        source, handler, tmp_path, checkpoints, batch_size=1, redelivery=RetryPolicy(base=1.0, cap=1.0, max_attempts=5)
    )
    # WHEN polled three times with no time passing
    _drain(mapping, passes=3)
    # THEN s0 was delivered once only, s1 went on
    assert handler.deliveries.count([1]) == 1 and [10] in handler.deliveries and [11] in handler.deliveries
    # AND once the backoff has passed, s0 is delivered again and succeeds
    CLOCK.now += 1.0
    _drain(mapping, passes=2)
    assert handler.deliveries.count([1]) == 2
    assert checkpoints.get("c", "s0").sequence_number == "1"


def test_a_record_failing_past_the_retry_attempts_goes_to_the_failure_destination_as_lambda_writes_it(
    tmp_path, checkpoints
):
    spec = MappingSpec("c", "h.handler", "kinesis", batch_size=100, maximum_retry_attempts=2)
    handler = Recorder(fail={2: 100})
    _drain(_mapping(FakeSource({"s0": [1, 2, 3]}), handler, tmp_path, checkpoints, spec=spec))
    # THEN 2 was delivered 1 + 2 times, then discarded with its payload, and 3 went on
    assert sum(batch.count(2) for batch in handler.deliveries) == 3
    [failure] = _failures(tmp_path)
    assert (failure.condition, failure.invoke_count, failure.shard_id) == ("RetryAttemptsExhausted", 3, "s0")
    assert (failure.start_sequence, failure.end_sequence, failure.batch_size) == ("2", "2", 1)
    assert [r["kinesis"]["sequenceNumber"] for r in failure.records] == ["2"]
    assert failure.key.startswith("failures/aws/lambda/") and "/s0/" in failure.key
    assert handler.deliveries[-1] == [3]
    assert checkpoints.get("c", "s0").sequence_number == "3"


def test_a_record_still_failing_past_the_maximum_record_age_is_given_up_with_that_condition(tmp_path, checkpoints):
    spec = MappingSpec("c", "h.handler", "kinesis", batch_size=100, maximum_record_age_seconds=600)
    handler = Recorder(fail={1: 100})
    mapping = _mapping(FakeSource({"s0": [1, 2]}, arrival={2: NOW + 500}), handler, tmp_path, checkpoints, spec=spec)
    _drain(mapping, passes=2)
    assert _failures(tmp_path) == []  # young: retried, not given up
    CLOCK.now += 601
    _drain(mapping, passes=3)
    [failure] = _failures(tmp_path)
    assert failure.condition == "RecordAgeExceeded"
    assert handler.deliveries[-1] == [2]


def test_records_already_past_the_record_age_are_never_delivered(tmp_path, checkpoints):
    spec = MappingSpec("c", "h.handler", "kinesis", batch_size=100, maximum_record_age_seconds=600)
    source = FakeSource({"s0": [1, 2, 3]}, arrival={1: NOW - 700, 2: NOW - 650})
    handler = Recorder()
    _drain(_mapping(source, handler, tmp_path, checkpoints, spec=spec))
    assert handler.deliveries == [[3]]
    [failure] = _failures(tmp_path)
    assert (failure.condition, failure.start_sequence, failure.end_sequence) == ("RecordAgeExceeded", "1", "2")


def test_the_local_failure_record_parses_like_the_one_lambda_writes_to_s3():
    # The S3 example of the Lambda developer guide: payload as an escaped JSON string.
    aws = {
        "requestContext": {
            "requestId": "r",
            "functionArn": "arn:aws:lambda:us-east-2:1:function:f",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2019-11-14T00:38:06.021Z",
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000001",
            "startSequenceNumber": "4960",
            "endSequenceNumber": "4961",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
            "batchSize": 2,
            "streamArn": "arn:aws:kinesis:us-east-2:1:stream/s",
        },
        "payload": '{"Records": [{"kinesis": {"sequenceNumber": "4960"}}]}',
    }
    parsed = failure_records.parse("aws/lambda/u/shardId-000000000001/2019/11/14/x", failure_records.orjson.dumps(aws))
    assert (parsed.kind, parsed.shard_id, parsed.batch_size) == ("kinesis", "shardId-000000000001", 2)
    assert parsed.records == [{"kinesis": {"sequenceNumber": "4960"}}]
    # An SQS/SNS-shaped record has no payload: the records must be fetched from the stream.
    del aws["payload"]
    assert failure_records.parse("k", aws).records is None


def test_children_start_only_after_their_parents_are_read_to_the_end(tmp_path, checkpoints):
    # GIVEN a closed parent with records and a child shard with later records
    source = FakeSource({"parent": [1, 2], "child": [10, 11]}, parents={"child": ("parent",)}, closed={"parent"})
    handler = Recorder()
    _drain(_mapping(source, handler, tmp_path, checkpoints, batch_size=1))
    order = [s for batch in handler.deliveries for s in batch]
    assert order == [1, 2, 10, 11]
    assert checkpoints.get("c", "parent").finished


def test_a_restarted_mapping_resumes_from_its_checkpoints(tmp_path, checkpoints):
    source = FakeSource({"s0": [1, 2, 3]})
    first = _mapping(source, Recorder(), tmp_path, checkpoints)
    _drain(first)
    first.release()
    source.records["s0"] += [4, 5]
    handler = Recorder()
    _drain(_mapping(source, handler, tmp_path, checkpoints))
    assert handler.deliveries == [[4, 5]]


def test_two_runners_never_read_one_shard_and_a_dead_runners_lease_expires(tmp_path, checkpoints):
    # GIVEN two runners of the same consumer over the same shard
    source = FakeSource({"s0": [1, 2, 3]})
    first_handler, second_handler = Recorder(), Recorder()
    first = _mapping(source, first_handler, tmp_path, checkpoints, lease_seconds=30)
    second = _mapping(source, second_handler, tmp_path, checkpoints, lease_seconds=30)
    # WHEN both poll
    _drain(first, passes=2)
    _drain(second, passes=2)
    # THEN only the lease holder read it
    assert first_handler.deliveries == [[1, 2, 3]] and second_handler.deliveries == []
    # WHEN the first dies (no release), new records arrive, and its lease expires
    source.records["s0"] += [4]
    CLOCK.now += 31
    _drain(second, passes=2)
    # THEN the second takes over at the checkpoint: nothing twice, nothing lost
    assert second_handler.deliveries == [[4]]
    assert checkpoints.get("c", "s0").owner == second.owner
