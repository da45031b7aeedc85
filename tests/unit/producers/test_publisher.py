"""Publisher: validation before sending, batching, retries, per-key order, failures as data.

Failures are injected with ``FakeKinesis`` (moto cannot fail a record on demand); the
Kinesis limits are also checked against moto, which enforces them.
"""

from __future__ import annotations

import io
import json
import random
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import boto3
import orjson
import pytest
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from botocore.exceptions import ClientError
from moto import mock_aws

from producers.aggregation import deaggregate
from producers.kinesis_writer import MAX_REQUEST_BYTES, ORDER_BLOCKED
from producers.publisher import FlushResult, Publisher, PublisherClosedError, UndeliveredEventsError
from schemas.envelope import decode
from schemas.errors import RecordTooLargeError
from schemas.events import (
    EventRegistry,
    EventValidationError,
    PageView,
    PublishedEvent,
    UnknownEventTypeError,
)

PTE = "ProvisionedThroughputExceededException"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
MiB = 1024 * 1024


class Ping(PublishedEvent):
    """A test event: several events (``n``) can share one key (``k``)."""

    entity: ClassVar[str] = "ping"
    key_fields: ClassVar[tuple[str, ...]] = ("k",)
    id_fields: ClassVar[tuple[str, ...]] = ("k", "n")
    tenant_id: str = "t1"
    k: str
    n: int
    pad: str = ""


# powertools Loggers of one service share a handler: the first one's stream wins.
QUIET = Logger(service="publisher-tests", stream=io.StringIO())
REGISTRY = EventRegistry()
REGISTRY.register(Ping)


def ping(k: str, n: int, size: int = 0) -> Ping:
    return Ping(k=k, n=n, pad="x" * size, occurred_at=T0)


class FakeKinesis:
    """An in-memory stream failing what it is told to; thread-safe.

    ``record_errors(call, entry)`` returns an error code for one entry or None;
    ``request_errors[call]`` is raised for a whole request. ``accepted`` holds the
    stored entries in the order they were stored.
    """

    def __init__(
        self,
        record_errors: Callable[[int, dict], str | None] = lambda call, entry: None,
        request_errors: dict[int, Exception] | None = None,
    ):
        self.record_errors = record_errors
        self.request_errors = request_errors or {}
        self.calls: list[list[dict[str, Any]]] = []
        self.accepted: list[dict[str, Any]] = []
        self.called = threading.Event()
        self._lock = threading.Lock()

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            call = len(self.calls)
            self.calls.append(list(Records))
            self.called.set()
            if call in self.request_errors:
                raise self.request_errors[call]
            results = []
            for entry in Records:
                code = self.record_errors(call, entry)
                if code:
                    results.append({"ErrorCode": code, "ErrorMessage": f"fake {code}"})
                else:
                    self.accepted.append(entry)
                    results.append({"ShardId": "shardId-0", "SequenceNumber": str(len(self.accepted))})
            return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}

    def pings(self) -> list[tuple[str, int]]:
        """(k, n) of every stored event, in stream order (aggregated records opened; ``ping``
        is a test-only entity, so not through ``envelopes_of``, which would refuse it)."""
        envelopes = [decode(data) for entry in self.accepted for data in deaggregate(entry["Data"])]
        return [(e.after["k"], e.after["n"]) for e in envelopes]


def first_n(entry: dict) -> tuple[str, int]:
    after = orjson.loads(entry["Data"])["after"]
    return after["k"], after["n"]


def publisher(client, **options) -> Publisher:
    options = {
        "name": "test-service",
        "registry": REGISTRY,
        "linger_seconds": None,
        "sleep": lambda s: None,
        "metrics": Metrics(provider=AmazonCloudWatchEMFProvider(namespace="Test", metric_set={})),
        "logger": QUIET,
        **options,
    }
    return Publisher(client, "events", **options)


def throttled(code: str = "ThrottlingException") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "slow down"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutRecords"
    )


# --- rejection before sending -----------------------------------------------------------


def test_unknown_types_and_invalid_payloads_are_rejected_before_anything_is_sent():
    fake = FakeKinesis()
    pub = publisher(fake)
    pub.publish(ping("a", 1))
    # WHEN an unknown type, an invalid payload and a foreign model are published
    with pytest.raises(UnknownEventTypeError, match="page_click"):
        pub.publish({"event_type": "page_click", "k": "a"})
    with pytest.raises(EventValidationError) as caught:
        pub.publish({"event_type": "ping", "k": "a", "n": "not a number", "occurred_at": T0})
    with pytest.raises(UnknownEventTypeError):
        pub.publish(PageView(view_id="v", tenant_id="t", user_id="u", path="/", occurred_at=T0))
    # THEN the error names the type and field, and only the valid event is buffered
    assert caught.value.event_type == "ping.recorded" and caught.value.fields == ["n"]
    assert pub.pending == 1 and fake.calls == []
    assert pub.close().delivered == 1


def test_a_mapping_payload_is_validated_and_published():
    fake = FakeKinesis()
    with publisher(fake) as pub:
        pub.publish({"event_type": "ping.recorded", "k": "a", "n": 1, "occurred_at": "2026-03-01T00:00:00Z"})
    assert fake.pings() == [("a", 1)]


# --- batching ---------------------------------------------------------------------------


def test_a_flush_sends_requests_of_at_most_500_records():
    fake = FakeKinesis()
    pub = publisher(fake, flush_records=10_000)
    for n in range(1_200):
        pub.publish(ping(f"k{n}", n))
    result = pub.flush()
    assert [len(call) for call in fake.calls] == [500, 500, 200]
    assert (result.delivered, result.records, result.requests) == (1_200, 1_200, 3)
    assert [first_n(e) for e in fake.accepted] == [(f"k{n}", n) for n in range(1_200)]


def test_a_flush_sends_requests_of_at_most_5_mib_and_moto_accepts_them():
    # GIVEN 30 events of ~400 KB (12 MB) and moto, which rejects requests over 5 MiB
    with mock_aws():
        client = boto3.client("kinesis", region_name="us-east-1")
        client.create_stream(StreamName="events", ShardCount=2)
        sizes: list[int] = []
        client.meta.events.register(
            "before-parameter-build.kinesis.PutRecords",
            lambda params, **_: sizes.append(sum(len(r["Data"]) + len(r["PartitionKey"]) for r in params["Records"])),
        )
        pub = publisher(client, flush_records=10_000, flush_bytes=100 * MiB)
        for n in range(30):
            pub.publish(ping(f"k{n}", n, size=400_000))
        result = pub.flush()
    # THEN every request is within 5 MiB, as few as that allows, and all were stored
    assert result.ok and result.delivered == 30
    assert all(size <= MAX_REQUEST_BYTES for size in sizes) and len(sizes) == 3


def test_custom_batch_caps_are_honoured():
    fake = FakeKinesis()
    pub = publisher(fake, max_batch_records=7, flush_records=10_000)
    for n in range(20):
        pub.publish(ping(f"k{n}", n))
    pub.flush()
    assert [len(call) for call in fake.calls] == [7, 7, 6]


def test_size_thresholds_flush_from_the_publishing_thread():
    fake = FakeKinesis()
    pub = publisher(fake, flush_records=10)
    for n in range(25):
        pub.publish(ping(f"k{n}", n))
    # THEN two automatic flushes of 10 happened and 5 events wait
    assert [len(call) for call in fake.calls] == [10, 10]
    assert pub.pending == 5


def test_the_linger_threshold_flushes_on_the_next_publish():
    now = [0.0]
    fake = FakeKinesis()
    pub = publisher(fake, linger_seconds=0.5, clock=lambda: now[0])
    pub.publish(ping("a", 1))
    now[0] = 0.4
    pub.publish(ping("a", 2))
    assert fake.calls == []
    # WHEN the oldest event is older than the linger time at the next publish
    now[0] = 0.6
    pub.publish(ping("a", 3))
    # THEN everything buffered went out
    assert fake.pings() == [("a", 1), ("a", 2), ("a", 3)] and pub.pending == 0


def test_the_background_timer_flushes_an_idle_publisher():
    fake = FakeKinesis()
    with publisher(fake, linger_seconds=0.01) as pub:
        pub.publish(ping("a", 1))
        # THEN without another publish or flush the event is sent (waits for it, not timed)
        assert fake.called.wait(timeout=30)
    assert fake.pings() == [("a", 1)]


# --- oversized events ---------------------------------------------------------------------


@pytest.mark.parametrize("aggregate", [False, True])
def test_an_oversized_event_raises_naming_it_and_nothing_else_is_lost(aggregate):
    fake = FakeKinesis()
    pub = publisher(fake, aggregate=aggregate, flush_records=3, flush_bytes=100 * MiB)
    pub.publish(ping("a", 1))
    pub.publish(ping("a", 2))
    with pytest.raises(RecordTooLargeError) as caught:
        pub.publish(ping("a", 3, size=MiB))
    pub.publish(ping("a", 4))
    result = pub.close()
    # THEN the error names the event, the others are delivered in order
    assert "ping.recorded event" in str(caught.value) and "'a'" in str(caught.value)
    assert caught.value.size > caught.value.limit == MiB
    assert result.ok and fake.pings() == [("a", 1), ("a", 2), ("a", 4)]


# --- retries, throttling, order -----------------------------------------------------------


def test_partial_failures_and_throttling_are_retried_with_jittered_backoff():
    # GIVEN a stream that throttles the whole first request, then fails every third
    # record once with a throughput error and once with an internal failure
    seen: dict[tuple, int] = defaultdict(int)

    def flaky(call: int, entry: dict) -> str | None:
        who = first_n(entry)
        seen[who] += 1
        if who[1] % 3 == 0 and seen[who] <= 2:
            return PTE if seen[who] == 1 else "InternalFailure"
        return None

    fake = FakeKinesis(flaky, request_errors={0: throttled()})
    sleeps: list[float] = []
    pub = publisher(fake, sleep=sleeps.append, rng=lambda: 0.5, flush_records=10_000)
    for n in range(30):
        pub.publish(ping(f"k{n}", n))
    result = pub.flush()
    # THEN everything is stored exactly once, after retries that were counted and slept
    assert result.ok and result.delivered == 30
    assert sorted(fake.pings()) == sorted((f"k{n}", n) for n in range(30))
    assert result.requests == len(fake.calls) == 4
    assert result.throttles == 30 + 10  # the whole first request, then the PTE records
    assert result.retries == 30 + 10 + 10
    assert sleeps and all(s > 0 for s in sleeps)


def test_per_key_order_holds_under_random_failures():
    # GIVEN 4 keys with 25 events each, interleaved, and a stream failing 30% of records
    rng = random.Random(7)
    fake = FakeKinesis(lambda call, entry: PTE if rng.random() < 0.3 else None)
    pub = publisher(fake, flush_records=40, max_attempts=50)
    published = [(f"k{n % 4}", n) for n in range(100)]
    for k, n in published:
        pub.publish(ping(k, n))
    result = pub.flush()
    # THEN every key's events are stored in publish order, once each
    assert result.ok
    for key in ("k0", "k1", "k2", "k3"):
        assert [n for k, n in fake.pings() if k == key] == [n for k, n in published if k == key]


def test_what_finally_fails_is_returned_in_publish_order_with_later_events_of_its_key_blocked():
    # GIVEN a stream that refuses event (a, 2) for good
    fake = FakeKinesis(lambda call, entry: "InvalidArgumentException" if first_n(entry) == ("a", 2) else None)
    pub = publisher(fake, flush_records=10_000)
    for k, n in [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("b", 2)]:
        pub.publish(ping(k, n))
    result = pub.flush()
    # THEN (a, 2) is returned with its error, (a, 3) blocked behind it, the rest stored
    assert [(f.event.k, f.event.n, f.error_code) for f in result.failed] == [
        ("a", 2, "InvalidArgumentException"),
        ("a", 3, ORDER_BLOCKED),
    ]
    assert result.failed[0].event_id and "fake" in result.failed[0].message
    assert sorted(fake.pings()) == [("a", 1), ("b", 1), ("b", 2)]
    assert result.delivered == 3 and not result.ok


def test_a_failed_key_stays_blocked_until_flush_reports_it():
    fake = FakeKinesis(lambda call, entry: "InvalidArgumentException" if first_n(entry) == ("a", 1) else None)
    pub = publisher(fake, flush_records=2)
    pub.publish(ping("a", 1))
    pub.publish(ping("b", 1))  # automatic flush: (a, 1) fails
    pub.publish(ping("a", 2))  # published after the failure, before the caller knows
    pub.publish(ping("b", 2))
    reported = pub.flush()
    # THEN (a, 2) was never sent, and both come back from the next flush()
    assert [(f.event.n, f.error_code) for f in reported.failed] == [(1, "InvalidArgumentException"), (2, ORDER_BLOCKED)]
    assert fake.pings() == [("b", 1), ("b", 2)]
    # WHEN the caller re-publishes in order after being told THEN key a flows again
    fake.record_errors = lambda call, entry: None
    for failure in reported.failed:
        pub.publish(failure.event)
    assert pub.flush().ok and fake.pings()[-2:] == [("a", 1), ("a", 2)]


def test_an_event_published_while_its_predecessor_is_in_flight_is_blocked_if_that_fails():
    # GIVEN a stream that refuses (a, 1), and (a, 2) published while (a, 1) is in flight
    fake = FakeKinesis(lambda call, entry: "InvalidArgumentException" if first_n(entry) == ("a", 1) else None)
    pub = publisher(fake, flush_records=10_000)
    put = fake.put_records

    def put_while_publishing(**request):
        if len(fake.calls) == 0:
            pub.publish(ping("a", 2))  # as another thread would, between take and result
        return put(**request)

    fake.put_records = put_while_publishing
    pub.publish(ping("a", 1))
    first = pub.flush()
    second = pub.flush()
    # THEN (a, 2) is reported blocked behind (a, 1) and never sent
    assert [(f.event.n, f.error_code) for f in first.failed] == [(1, "InvalidArgumentException"), (2, ORDER_BLOCKED)]
    assert second == FlushResult() and fake.pings() == []


def test_order_holds_across_batches_of_one_flush():
    # GIVEN batches of 2 records and (a, 1) refused in the first batch
    fake = FakeKinesis(lambda call, entry: "InvalidArgumentException" if first_n(entry) == ("a", 1) else None)
    pub = publisher(fake, max_batch_records=2, flush_records=10_000)
    for k, n in [("a", 1), ("b", 1), ("c", 1), ("a", 2)]:
        pub.publish(ping(k, n))
    result = pub.flush()
    # THEN (a, 2), in the second batch, is blocked and never sent
    assert [(f.event.k, f.event.n, f.error_code) for f in result.failed] == [
        ("a", 1, "InvalidArgumentException"),
        ("a", 2, ORDER_BLOCKED),
    ]
    assert all(first_n(entry) != ("a", 2) for call in fake.calls for entry in call)


def test_deadline_and_unexpected_client_errors_come_back_as_failures():
    # GIVEN a client that always throttles, then one that raises something unexpected
    always = FakeKinesis(lambda call, entry: PTE)
    pub = publisher(always, max_attempts=3)
    pub.publish(ping("a", 1))
    assert [f.error_code for f in pub.flush().failed] == [PTE]

    class Broken:
        def put_records(self, **_):
            raise RuntimeError("socket gone")

    pub = publisher(Broken())
    pub.publish(ping("a", 1))
    [failure] = pub.flush().failed
    assert (failure.error_code, failure.message) == ("RuntimeError", "socket gone")


def test_failures_of_automatic_flushes_come_back_from_the_next_flush():
    fake = FakeKinesis(lambda call, entry: "InvalidArgumentException" if call == 0 else None)
    pub = publisher(fake, flush_records=2)
    for n in range(4):
        pub.publish(ping(f"k{n}", n))  # two automatic flushes; the first one fails
    result = pub.flush()
    assert [f.event.n for f in result.failed] == [0, 1]
    assert result.delivered == 2 and result.requests == 2
    assert pub.flush() == FlushResult()  # reported once


# --- closing ------------------------------------------------------------------------------


def test_leaving_the_block_flushes_and_closes():
    fake = FakeKinesis()
    with publisher(fake, flush_records=10_000) as pub:
        for n in range(3):
            pub.publish(ping("a", n))
        assert fake.calls == []
    assert fake.pings() == [("a", 0), ("a", 1), ("a", 2)]
    with pytest.raises(PublisherClosedError):
        pub.publish(ping("a", 4))
    assert pub.close() == FlushResult()


def test_leaving_the_block_raises_with_the_undelivered_events():
    fake = FakeKinesis(lambda call, entry: "InvalidArgumentException")
    with pytest.raises(UndeliveredEventsError) as caught, publisher(fake) as pub:
        pub.publish(ping("a", 1))
    assert [f.event.n for f in caught.value.result.failed] == [1]


def test_an_error_in_the_block_is_kept_as_context_of_the_undelivered_error():
    fake = FakeKinesis(lambda call, entry: "InvalidArgumentException")
    with pytest.raises(UndeliveredEventsError) as caught, publisher(fake) as pub:
        pub.publish(ping("a", 1))
        raise KeyError("boom")
    assert isinstance(caught.value.__context__, KeyError)
    # and without failures the block's own error propagates, events delivered
    ok = FakeKinesis()
    with pytest.raises(KeyError), publisher(ok) as pub:
        pub.publish(ping("a", 1))
        raise KeyError("boom")
    assert ok.pings() == [("a", 1)]


# --- threads ------------------------------------------------------------------------------


def test_events_from_many_threads_are_delivered_exactly_once_in_order_per_key():
    # GIVEN 8 threads publishing 400 events each over their own 5 keys, a stream failing
    # 10% of records, and small automatic flushes competing with a background timer
    rng, rng_lock = random.Random(3), threading.Lock()

    def flaky(call: int, entry: dict) -> str | None:
        with rng_lock:
            return PTE if rng.random() < 0.1 else None

    fake = FakeKinesis(flaky)
    pub = publisher(fake, flush_records=37, max_attempts=100, linger_seconds=0.005)

    def work(t: int) -> None:
        for n in range(400):
            pub.publish(ping(f"t{t}-{n % 5}", n))

    with pub:
        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    stored = fake.pings()
    # THEN each event is stored once, and each key's events in publish order
    assert len(stored) == len(set(stored)) == 8 * 400
    by_key: dict[str, list[int]] = defaultdict(list)
    for k, n in stored:
        by_key[k].append(n)
    assert all(ns == sorted(ns) for ns in by_key.values()) and len(by_key) == 40


# --- observability ------------------------------------------------------------------------


def test_each_flush_emits_metrics_and_one_structured_log_line():
    stream = io.StringIO()
    metrics = Metrics(provider=AmazonCloudWatchEMFProvider(namespace="Auxeira/Test", metric_set={}))
    fake = FakeKinesis(lambda call, entry: PTE if call == 0 and first_n(entry)[1] == 0 else None)
    logger = Logger(service="publisher-log-test", stream=stream)
    pub = publisher(fake, metrics=metrics, logger=logger, flush_records=10_000)
    for n in range(3):
        pub.publish(ping(f"k{n}", n))
    pub.flush()
    values = {name: metric["Value"] for name, metric in metrics.provider.metric_set.items()}
    assert values["PublisherEvents"] == [3] and values["PublisherRecords"] == [3]
    assert values["PublisherRequests"] == [2] and values["PublisherRetries"] == [1]
    assert values["PublisherThrottles"] == [1] and values["PublisherFailedEvents"] == [0]
    assert values["PublisherBytes"] == [sum(len(e["Data"]) + len(e["PartitionKey"]) for e in fake.accepted)]
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["message"] == "publisher flush" and line["reason"] == "explicit"
    assert (line["events"], line["delivered"], line["requests"], line["retries"]) == (3, 3, 2, 1)


def test_aggregated_publishing_packs_events_and_consumers_read_them_back_in_order():
    fake = FakeKinesis()
    with publisher(fake, aggregate=True, buckets=4) as pub:
        for n in range(200):
            pub.publish(ping(f"k{n % 10}", n))
    # THEN a handful of records in one request carry all 200 events, in order per key
    assert len(fake.calls) == 1 and len(fake.accepted) <= 4
    stored = fake.pings()
    assert sorted(stored) == sorted((f"k{n % 10}", n) for n in range(200))
    for key in {k for k, _ in stored}:
        assert [n for k, n in stored if k == key] == [n for n in range(200) if f"k{n % 10}" == key]
