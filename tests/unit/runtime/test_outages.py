"""A retryable failure (a store down) delays and never loses: records are redelivered with
backoff until the store is back; only past the mapping's record age is a record given up, to
the dead-letter store, with the cause."""

from __future__ import annotations

import base64

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from auxeira.runtime.checkpoints import Checkpoints
from auxeira.runtime.dead_letters import LocalDeadLetters
from auxeira.runtime.failure_records import FailureRecords
from auxeira.runtime.mapping_runner import LocalEventSourceMapping
from auxeira.runtime.objects import LocalObjects
from auxeira.runtime.retry import RetryPolicy
from auxeira.runtime.shard_sources import ReadResult, Shard
from consumers.handlers.cache import build_handler
from consumers.sinks.memory import InMemoryCacheSink
from schemas.envelope import encode
from schemas.errors import RetryableSinkError
from schemas.resources import CHECKPOINTS_TABLE, MappingSpec
from tests.kinesis_records import envelope
from tests.moto_tables import moto_dynamodb

START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class DownUntil(InMemoryCacheSink):
    """Redis that refuses every call until ``clock`` reaches ``until``."""

    def __init__(self, clock: Clock, until: float):
        super().__init__()
        self.clock, self.until, self.refused = clock, until, 0

    def apply(self, mutations):
        if self.clock() < self.until:
            self.refused += 1
            raise RetryableSinkError("redis cache unavailable: connection refused")
        return super().apply(mutations)


class Stream:
    """One shard of envelopes that arrived at START."""

    arn = "arn:aws:kinesis:us-east-1:123456789012:stream/auxeira-events-test"
    event_source = "aws:kinesis"

    def __init__(self, count: int):
        self.records = [
            {
                "kinesis": {
                    "sequenceNumber": str(n),
                    "partitionKey": "pk",
                    "approximateArrivalTimestamp": START,
                    "data": base64.b64encode(encode(envelope(f"K{n % 7}", n))).decode(),
                },
                "eventSource": "aws:kinesis",
                "eventID": f"shardId-0:{n}",
                "eventSourceARN": self.arn,
            }
            for n in range(1, count + 1)
        ]

    def shards(self):
        return [Shard("shardId-0")]

    def iterator(self, shard_id, after):
        return (
            "0"
            if after is None
            else str(next(i for i, r in enumerate(self.records) if r["kinesis"]["sequenceNumber"] == after) + 1)
        )

    def read(self, shard_id, iterator, limit):
        start = int(iterator)
        return ReadResult(self.records[start : start + limit], str(start + len(self.records[start : start + limit])))


@pytest.fixture
def setup(monkeypatch, tmp_path):
    clock = Clock()
    with moto_dynamodb(monkeypatch, [CHECKPOINTS_TABLE], "t") as client:
        yield clock, Checkpoints(client, CHECKPOINTS_TABLE.physical_name("t"), clock=clock), tmp_path


def _run(clock, checkpoints, tmp_path, sink, spec, seconds, step=0.5):
    letters = LocalDeadLetters(tmp_path)
    handler = build_handler(sink, letters, spec=spec, clock=clock)
    runner = LocalEventSourceMapping(
        source=Stream(40),
        handler=handler,
        checkpoints=checkpoints,
        consumer="cache",
        spec=spec,
        failures=FailureRecords(LocalObjects(tmp_path)),
        batch_size=10,
        clock=clock,
        redelivery=RetryPolicy(base=0.5, cap=4.0, max_attempts=10_000),
        lease_seconds=3600,
    )
    polls = 0
    while clock.now < START + seconds:
        runner.poll()
        polls += 1
        clock.now += step
    return letters, polls


def test_a_ten_second_outage_delays_and_loses_nothing(setup):
    clock, checkpoints, tmp_path = setup
    spec = MappingSpec("cache", "h.handler", "kinesis", batch_size=10)
    sink = DownUntil(clock, START + 10)
    letters, _ = _run(clock, checkpoints, tmp_path, sink, spec, seconds=60)
    # THEN Redis refused while down, nothing was dead-lettered or discarded, every key holds its last version
    assert sink.refused > 1
    assert list(letters.list()) == [] and list(FailureRecords(LocalObjects(tmp_path)).list()) == []
    assert checkpoints.get("cache", "shardId-0").sequence_number == "40"
    for k in range(7):
        last = max(n for n in range(1, 41) if n % 7 == k)
        assert sink.get(f"aux:local:t1:startup:K{k}").state["company_name"] == f"Co K{k} v{last}"


def test_the_retries_back_off_instead_of_spinning(setup):
    clock, checkpoints, tmp_path = setup
    spec = MappingSpec("cache", "h.handler", "kinesis", batch_size=10)
    sink = DownUntil(clock, START + 30)
    _run(clock, checkpoints, tmp_path, sink, spec, seconds=30, step=0.1)
    # 300 polls in 30 s; with backoff up to 4 s the store is asked far fewer times
    assert 3 <= sink.refused <= 40


def test_an_outage_past_the_record_age_gives_records_up_with_their_cause(setup):
    clock, checkpoints, tmp_path = setup
    spec = MappingSpec("cache", "h.handler", "kinesis", batch_size=10, maximum_record_age_seconds=600)
    sink = DownUntil(clock, START + 10_000)
    letters, _ = _run(clock, checkpoints, tmp_path, sink, spec, seconds=620, step=2.0)
    # THEN the handler gave them up itself, just before the record age, saying why
    given_up = list(letters.list("cache"))
    assert given_up and all(letter.error_type == "RecordAgeExceeded" for letter in given_up)
    assert all("redis cache unavailable" in letter.message for letter in given_up)
    assert list(FailureRecords(LocalObjects(tmp_path)).list()) == []  # the mapping never had to discard


class LambdaContext:
    """What the handler reads of Lambda's context: the time left in this invocation."""

    def __init__(self, remaining_ms: int):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.mark.parametrize(
    ("age", "remaining_ms", "expected"),
    [
        (0.0, 60_000, 1.0),  # a fresh failure: 1 s
        (200.0, 60_000, 10.0),  # 5 % of the oldest failed record's age
        (3600.0, 60_000, 30.0),  # never more than 30 s
        (3600.0, 12_000, 10.0),  # never past the invocation's end (2 s kept to return)
    ],
)
def test_in_lambda_a_batch_with_retryable_failures_pauses_before_returning(tmp_path, age, remaining_ms, expected):
    """Lambda redelivers a failed batch at once: the pause is what spreads the retries over
    the record age there, as the local runner's backoff does here (the same rule)."""
    clock = Clock()
    clock.now = START + age
    sink, pauses = DownUntil(clock, START + 10_000), []
    handler = build_handler(sink, LocalDeadLetters(tmp_path), clock=clock, sleep=pauses.append)
    event = {"Records": Stream(3).records}
    # every record failed: the invocation fails (Lambda retries and bisects the batch) ...
    with pytest.raises(BatchProcessingError):
        handler(event, LambdaContext(remaining_ms))
    # ... but only after the pause
    assert pauses == [pytest.approx(expected)]
    # AND outside Lambda (no context: the local runner backs off itself) no pause at all
    pauses.clear()
    with pytest.raises(BatchProcessingError):
        handler(event, None)
    assert pauses == []


def test_a_whole_outage_is_still_logged_and_measured(tmp_path):
    """Every record failed: the batch's log line and metrics are emitted before the invocation fails."""
    clock, reports = Clock(), []
    handler = build_handler(
        DownUntil(clock, START + 10_000), LocalDeadLetters(tmp_path), clock=clock, observer=reports.append
    )
    with pytest.raises(BatchProcessingError):
        handler({"Records": Stream(3).records}, None)
    [report] = reports
    assert (report.stats.records, report.stats.retried, report.stats.applied) == (3, 3, 0)
    assert [f["position"] for f in report.failures] == ["1", "2", "3"]


def test_in_lambda_a_batch_that_succeeded_returns_at_once(tmp_path):
    clock, pauses = Clock(), []
    handler = build_handler(InMemoryCacheSink(), LocalDeadLetters(tmp_path), clock=clock, sleep=pauses.append)
    assert handler({"Records": Stream(3).records}, LambdaContext(60_000)) == {"batchItemFailures": []}
    assert pauses == []
