"""The publishing SDK: services put registered events on the bus through a :class:`Publisher`.

    with Publisher(kinesis, "auxeira-events-prod", name="web-tracker") as publisher:
        publisher.publish(PageView(view_id=..., tenant_id=..., user_id=..., path="/dashboard",
                                   occurred_at=now))
        result = publisher.flush()          # optional: what failed comes back as data
    # leaving the block flushes; events that still failed raise UndeliveredEventsError

What it guarantees:

- ``publish`` validates, encodes and buffers; it raises before buffering anything for
  an unknown event type or an invalid payload (``UnknownEventTypeError``,
  ``EventValidationError``, naming the type and fields) and for an event encoding over
  1 MiB (``RecordTooLargeError`` naming the event). The buffer is untouched.
- A flush happens when ``flush_records`` events or ``flush_bytes`` are buffered (from
  the publishing thread), when the oldest event is ``linger_seconds`` old (checked on
  ``publish`` and by a background timer once the publisher is started), on ``flush()``,
  and on ``close()`` / leaving the ``with`` block. A flush sends everything buffered
  when it starts, in PutRecords requests of at most ``max_batch_records`` records and
  ``max_batch_bytes``, through :class:`~producers.kinesis_writer.KinesisWriter` (only
  failed records retried, full-jitter backoff, deadline).
- Per partition key (``tenant:entity:key``), events reach the stream in publish order.
  When an event fails, every later event of its key fails too (``OrderBlocked``):
  those already buffered or sent after it in the same flush, and those published
  until the ``flush()`` that reports the failure returns. Re-publishing the reported
  failures in order therefore keeps the order.
- Nothing is dropped quietly: each event ends delivered or in ``FlushResult.failed``.
  ``flush()`` returns what happened since the previous ``flush()`` (automatic flushes
  included); ``close()`` returns the final result; ``__exit__`` raises
  :class:`UndeliveredEventsError` carrying it if anything failed (if the block itself
  raised, that exception is its ``__context__``).

Thread safety: one lock guards the buffer and the tallies; a second one serialises
flushes, so a thread hitting a threshold while another flushes waits for it
(back-pressure) and a key's next event is never sent while its previous one is in
flight. Validation and encoding happen outside both locks.

Metrics (powertools, namespace ``namespace``, one value per flush): PublisherEvents,
PublisherFailedEvents, PublisherRecords, PublisherBytes, PublisherRequests,
PublisherRetries, PublisherThrottles. They join the process's powertools metric set:
a Lambda's ``@metrics.log_metrics`` publishes them; a long-running service calls
``flush_metrics()`` itself. Each flush also logs one structured line.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Self

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from producers.aggregation import DEFAULT_BUCKETS, Aggregator
from producers.kinesis_writer import (
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    ORDER_BLOCKED,
    KinesisClient,
    KinesisWriter,
    OutgoingRecord,
    PutResult,
    effective_partition_key,
    record_size,
    split_by_limits,
)
from producers.stream_router import partition_key
from schemas.envelope import encode
from schemas.errors import PipelineError, RecordTooLargeError
from schemas.events import REGISTRY, EventRegistry, PublishedEvent, to_envelope

__all__ = [
    "DEFAULT_NAMESPACE",
    "FailedEvent",
    "FlushResult",
    "Publisher",
    "PublisherClosedError",
    "UndeliveredEventsError",
]

DEFAULT_NAMESPACE = "Auxeira/Publisher"
# Aggregated records add a few bytes per event and per record to what is buffered.
_AGGREGATED_HEADROOM = 0.9
_BLOCKED = "not sent: an earlier event with this partition key failed"
#: Metric name -> the flush count it reports.
_METRICS = {
    "PublisherEvents": "events",
    "PublisherFailedEvents": "failed",
    "PublisherRecords": "records",
    "PublisherBytes": "bytes",
    "PublisherRequests": "requests",
    "PublisherRetries": "retries",
    "PublisherThrottles": "throttles",
}


@dataclass(frozen=True)
class FailedEvent:
    """An event that was not delivered, with the last error of its record."""

    event: PublishedEvent
    event_id: str
    error_code: str
    message: str


@dataclass(frozen=True)
class FlushResult:
    """What flushes did: events delivered and failed, and the Kinesis work it took.

    ``failed`` is in publish order. ``records`` and ``bytes`` count stored Kinesis
    records (an aggregated record counts once); ``retries`` and ``throttles`` as in
    :class:`~producers.kinesis_writer.PutResult`.
    """

    delivered: int = 0
    failed: tuple[FailedEvent, ...] = ()
    records: int = 0
    bytes: int = 0
    requests: int = 0
    retries: int = 0
    throttles: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    def __add__(self, other: FlushResult) -> FlushResult:
        return FlushResult(*(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__))


class UndeliveredEventsError(PipelineError):
    """Raised on leaving a ``with Publisher(...)`` block when events were not delivered."""

    def __init__(self, result: FlushResult):
        self.result = result
        first = result.failed[0]
        super().__init__(
            f"{len(result.failed)} events not delivered; first {first.event_id}: {first.error_code} {first.message}"
        )


class PublisherClosedError(PipelineError):
    """``publish`` after ``close``."""


@dataclass(eq=False, slots=True)
class _Pending:
    seq: int
    event: PublishedEvent
    event_id: str
    data: bytes
    key: str  # the partition key as sent (after effective_partition_key)
    size: int
    at: float


@dataclass(eq=False)
class _Outcome:
    tally: FlushResult = field(default_factory=FlushResult)
    failures: list[tuple[_Pending, str, str]] = field(default_factory=list)


class Publisher:
    """Buffers validated events and puts them on one stream in batches (see the module doc).

    Args:
        client: a boto3 Kinesis client (or anything with ``put_records``).
        stream_name: the events stream.
        name: the publishing service's stable name: it goes into ``source.publisher``
            and, with each event's own id, into its deterministic ``event_id``.
        aggregate: pack events into KPL aggregated records (``producers.aggregation``).
        max_batch_records, max_batch_bytes: caps of one PutRecords request.
        linger_seconds: the oldest buffered event waits at most this long (None: no
            time threshold); ``background_flush`` starts a timer thread on ``start()``
            or ``__enter__`` so this holds when nothing is published.
        flush_records, flush_bytes: size thresholds (defaults: one full request; with
            aggregation, 90% of ``max_batch_bytes`` and no event count).
        max_attempts, deadline_seconds, sleep, rng, clock: passed to the
            :class:`KinesisWriter` (``clock`` also times ``linger_seconds``).
        metrics, logger: powertools objects; built on first use when not given.
    """

    def __init__(
        self,
        client: KinesisClient,
        stream_name: str,
        *,
        name: str,
        aggregate: bool = False,
        max_batch_records: int = MAX_RECORDS_PER_REQUEST,
        max_batch_bytes: int = MAX_REQUEST_BYTES,
        linger_seconds: float | None = 0.2,
        flush_records: int | None = None,
        flush_bytes: int | None = None,
        background_flush: bool = True,
        buckets: int = DEFAULT_BUCKETS,
        registry: EventRegistry = REGISTRY,
        max_attempts: int = 8,
        deadline_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        logger: Logger | None = None,
    ) -> None:
        if not 1 <= max_batch_records <= MAX_RECORDS_PER_REQUEST:
            raise ValueError(f"max_batch_records must be 1..{MAX_RECORDS_PER_REQUEST}")
        if not 1 <= max_batch_bytes <= MAX_REQUEST_BYTES:
            raise ValueError(f"max_batch_bytes must be 1..{MAX_REQUEST_BYTES}")
        self.name, self.stream_name = name, stream_name
        self._writer = KinesisWriter(
            client,
            stream_name,
            max_attempts=max_attempts,
            deadline_seconds=deadline_seconds,
            sleep=sleep,
            rng=rng,
            clock=clock,
        )
        self._aggregator = Aggregator(buckets) if aggregate else None
        self._max_records, self._max_bytes = max_batch_records, max_batch_bytes
        headroom = _AGGREGATED_HEADROOM if aggregate else 1.0
        self._flush_records = flush_records or (2**63 if aggregate else max_batch_records)
        self._flush_bytes = flush_bytes or int(max_batch_bytes * headroom)
        self._linger, self._background = linger_seconds, background_flush
        self._registry, self._clock = registry, clock
        self._metrics, self._namespace, self._logger = metrics, namespace, logger
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._buffer: list[_Pending] = []
        self._buffered_bytes = 0
        self._seq = 0
        self._blocked: set[str] = set()
        self._result = _Outcome()
        self._closed = False
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    # --- public API --------------------------------------------------------------

    def publish(self, event: PublishedEvent | Mapping[str, Any]) -> None:
        """Validate and buffer one event (a model instance, or a mapping with ``event_type``).

        Raises:
            UnknownEventTypeError, EventValidationError: rejected; nothing buffered.
            RecordTooLargeError: the encoded event is over 1 MiB; nothing buffered.
            PublisherClosedError: after ``close()``.
        """
        model, event_id, data, key = self._encode(event)
        with self._lock:
            if self._closed:
                raise PublisherClosedError(f"publisher {self.name!r} is closed")
            self._seq += 1
            pending = _Pending(self._seq, model, event_id, data, key, len(data) + len(key.encode()), self._clock())
            if key in self._blocked:
                self._result.failures.append((pending, ORDER_BLOCKED, _BLOCKED))
                return
            self._buffer.append(pending)
            self._buffered_bytes += pending.size
            reason = self._due()
        if reason:
            self._flush(reason)

    def flush(self) -> FlushResult:
        """Send everything buffered; return what happened since the previous ``flush()``."""
        self._flush("explicit")
        with self._lock:
            outcome, self._result = self._result, _Outcome()
            self._blocked.clear()  # the caller is now told: its keys may flow again
        failed = sorted(outcome.failures, key=lambda f: f[0].seq)
        return replace(
            outcome.tally, failed=tuple(FailedEvent(p.event, p.event_id, code, message) for p, code, message in failed)
        )

    def start(self) -> Self:
        """Start the linger timer thread (when enabled); ``__enter__`` calls it."""
        if self._background and self._linger is not None and self._timer is None:
            self._timer = threading.Thread(target=self._run_timer, name=f"publisher-{self.name}", daemon=True)
            self._timer.start()
        return self

    def close(self) -> FlushResult:
        """Stop the timer, flush, refuse further events; return the final ``flush()`` result."""
        self._stop.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join()
        with self._lock:
            self._closed = True
        return self.flush()

    @property
    def pending(self) -> int:
        """Events buffered and not yet sent."""
        with self._lock:
            return len(self._buffer)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        result = self.close()
        if not result.ok:
            raise UndeliveredEventsError(result)

    # --- encoding ----------------------------------------------------------------

    def _encode(self, event: PublishedEvent | Mapping[str, Any]) -> tuple[PublishedEvent, str, bytes, str]:
        model = self._registry.coerce(event)
        envelope = to_envelope(model, self.name)
        data = encode(envelope)
        key = effective_partition_key(partition_key(envelope))
        # Aggregated, an event may travel alone under its bucket's partition key.
        route = self._aggregator.routing_key(key) if self._aggregator else key
        size = len(data) + max(len(key.encode()), len(route.encode()))
        if size > MAX_RECORD_BYTES:
            what = f"{envelope.event_type} event {envelope.event_id} (key {envelope.key!r})"
            raise RecordTooLargeError(what, size, MAX_RECORD_BYTES)
        return model, envelope.event_id, data, key

    # --- flushing ----------------------------------------------------------------

    def _due(self) -> str | None:
        """Why the buffer should be flushed now, if it should (call under ``_lock``)."""
        if len(self._buffer) >= self._flush_records or self._buffered_bytes >= self._flush_bytes:
            return "size"
        if self._buffer and self._linger is not None and self._clock() - self._buffer[0].at >= self._linger:
            return "linger"
        return None

    def _flush(self, reason: str) -> None:
        """1. take the buffer 2. send it in batches 3. fail buffered events of failed keys
        4. add to the tallies 5. metrics and one log line. Steps 1-4 hold ``_flush_lock``."""
        with self._flush_lock:
            with self._lock:
                if reason in ("size", "linger") and self._due() is None:
                    return  # another thread flushed while this one waited
                drained, self._buffer, self._buffered_bytes = self._buffer, [], 0
            if not drained:
                return
            outcome = self._deliver(drained)
            with self._lock:
                self._blocked.update(p.key for p, _, _ in outcome.failures)
                kept = [p for p in self._buffer if p.key not in self._blocked]
                outcome.failures += [(p, ORDER_BLOCKED, _BLOCKED) for p in self._buffer if p.key in self._blocked]
                self._buffer, self._buffered_bytes = kept, sum(p.size for p in kept)
                self._result.tally += outcome.tally
                self._result.failures += outcome.failures
        self._report(reason, len(drained), outcome)

    def _deliver(self, drained: list[_Pending]) -> _Outcome:
        records = [OutgoingRecord(p.data, p.key, ref=p) for p in drained]
        if self._aggregator is not None:
            records = self._aggregator.aggregate(records)
        outcome = _Outcome()
        failed_routes: set[str] = set()
        for batch in _batches(records, self._max_records, self._max_bytes):
            # Across batches the writer cannot see order: carry failed keys forward.
            for record in (r for r in batch if r.partition_key in failed_routes):
                outcome.failures += [(p, ORDER_BLOCKED, _BLOCKED) for p in _members(record)]
            result = self._put([r for r in batch if r.partition_key not in failed_routes])
            failed_routes.update(record.partition_key for record, _, _ in result.failed)
            outcome.failures += [(p, code, msg) for record, code, msg in result.failed for p in _members(record)]
            outcome.tally += FlushResult(
                delivered=sum(len(_members(record)) for record, _, _ in result.succeeded),
                records=len(result.succeeded),
                bytes=sum(record_size(r) for r, _, _ in result.succeeded),
                requests=result.requests,
                retries=result.retries,
                throttles=result.throttles,
            )
        return outcome

    def _put(self, records: list[OutgoingRecord]) -> PutResult:
        if not records:
            return PutResult([], [], 0, 0, 0)
        try:
            return self._writer.put(records)
        except Exception as exc:  # noqa: BLE001 - the batch left the buffer: report it, never drop it
            self._log().exception("publisher put failed", extra={"publisher": self.name})
            return PutResult([], [(r, type(exc).__name__, str(exc)) for r in records], 0, 0, 0)

    def _report(self, reason: str, events: int, outcome: _Outcome) -> None:
        tally, codes = outcome.tally, Counter(code for _, code, _ in outcome.failures)
        counts = {
            "events": events,
            "delivered": tally.delivered,
            "failed": len(outcome.failures),
            "records": tally.records,
            "bytes": tally.bytes,
            "requests": tally.requests,
            "retries": tally.retries,
            "throttles": tally.throttles,
        }
        metrics = self._metrics_sink()
        for metric, count in _METRICS.items():
            unit = MetricUnit.Bytes if count == "bytes" else MetricUnit.Count
            metrics.add_metric(name=metric, unit=unit, value=counts[count])
        line = {
            "publisher": self.name,
            "stream": self.stream_name,
            "reason": reason,
            **counts,
            "failed_codes": dict(codes),
            "aggregated": self._aggregator is not None,
        }
        (self._log().warning if codes else self._log().info)("publisher flush", extra=line)

    def _run_timer(self) -> None:
        assert self._linger is not None  # start() runs the timer only with a linger
        interval = max(self._linger / 2, 0.001)
        while not self._stop.wait(interval):
            with self._lock:
                reason = self._due()
            if reason:
                try:
                    self._flush(reason)
                except Exception:  # noqa: BLE001 - keep the timer alive; failures are in the tallies
                    self._log().exception("publisher timer flush failed", extra={"publisher": self.name})

    def _metrics_sink(self) -> Metrics:
        if self._metrics is None:
            self._metrics = Metrics(namespace=self._namespace, service=self.name)
        return self._metrics

    def _log(self) -> Logger:
        if self._logger is None:
            self._logger = Logger(service=self.name)
        return self._logger


def _members(record: OutgoingRecord) -> list[_Pending]:
    """The pending events a record carries: itself, or an aggregated record's members."""
    ref = record.ref
    if isinstance(ref, tuple):
        return [member.ref for member in ref]
    assert isinstance(ref, _Pending)  # _deliver puts each event's _Pending on its record
    return [ref]


def _batches(records: list[OutgoingRecord], max_records: int, max_bytes: int) -> Iterator[list[OutgoingRecord]]:
    return split_by_limits(records, record_size, max_items=max_records, max_bytes=max_bytes)
