"""Write records to a Kinesis data stream with PutRecords, retrying only what failed.

What :meth:`KinesisWriter.put` guarantees:

- Every input record ends in exactly one of ``PutResult.succeeded`` or
  ``PutResult.failed``; data and service errors are returned, never raised.
- Per partition key, the records that reached the stream are a prefix of that key's
  records in input order, and they reached it in input order. Everything after the
  first record of a key that did not get through is in ``failed`` (the first with its
  own error code, the rest with ``"OrderBlocked"``), so a caller that re-sends
  ``failed`` in order keeps the per-key order.

Limits are the PutRecords ones (Kinesis API reference, PutRecords): at most 500
records and 5 MiB per request; a record (data + partition key) at most 1 MiB; a
partition key 1 to 256 Unicode characters.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from auxeira.runtime.retry import full_jitter

__all__ = [
    "DEADLINE_EXCEEDED",
    "MAX_PARTITION_KEY_CHARS",
    "MAX_RECORDS_PER_REQUEST",
    "MAX_RECORD_BYTES",
    "MAX_REQUEST_BYTES",
    "ORDER_BLOCKED",
    "RECORD_TOO_LARGE",
    "KinesisClient",
    "KinesisWriter",
    "OutgoingRecord",
    "PutResult",
    "chunk_records",
    "effective_partition_key",
    "record_size",
    "split_by_limits",
]

MAX_RECORDS_PER_REQUEST = 500
MAX_REQUEST_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
MAX_PARTITION_KEY_CHARS = 256

# Error codes the writer itself puts in PutResult.failed.
RECORD_TOO_LARGE = "RecordTooLarge"
ORDER_BLOCKED = "OrderBlocked"
DEADLINE_EXCEEDED = "DeadlineExceeded"

# Per-record error codes worth retrying (PutRecordsResultEntry.ErrorCode). Anything
# else (InvalidArgumentException, KMSAccessDeniedException, ...) fails at once.
_RETRYABLE_RECORD_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException"}
)
_THROTTLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "KMSThrottlingException", "ThrottlingException",
    "Throttling", "LimitExceededException", "RequestLimitExceeded", "TooManyRequestsException",
})  # fmt: skip
# Whole-request errors worth retrying, besides any HTTP 5xx.
_RETRYABLE_REQUEST_CODES = _THROTTLE_CODES | {
    "InternalFailure", "InternalError", "InternalServerError", "ServiceUnavailable",
}  # fmt: skip

_T = TypeVar("_T")


class KinesisClient(Protocol):
    """The one call of a boto3 Kinesis client the writer uses."""

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class OutgoingRecord:
    """One record to put. ``ref`` is the caller's handle (e.g. the source stream record)."""

    data: bytes
    partition_key: str
    ref: object = None

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise TypeError(f"data must be bytes, got {type(self.data).__name__}")
        if not isinstance(self.partition_key, str) or not self.partition_key:
            raise ValueError("partition_key must be a non-empty str")


@dataclass(frozen=True)
class PutResult:
    """Outcome of :meth:`KinesisWriter.put`; both lists are in input order.

    ``retries`` counts record sends beyond each record's first; ``throttles`` counts
    record sends refused for throttling (a throttled request counts all its records).
    """

    succeeded: list[tuple[OutgoingRecord, str, str]]  # (record, shard_id, sequence_number)
    failed: list[tuple[OutgoingRecord, str, str]]  # (record, error_code, error_message)
    requests: int
    retries: int
    throttles: int


def effective_partition_key(key: str) -> str:
    """Return the partition key to send: ``key`` itself, or a hash of it when too long.

    A key over 256 characters is replaced by ``"sha256:" + hexdigest`` of its UTF-8
    bytes. Why a hash and not a truncation: truncating would map every key sharing a
    256-character prefix (long keys usually share a namespace prefix) to one key, so to
    one hot shard; a cryptographic hash keeps distinct keys distinct, and unlike
    Python's ``hash()`` (salted per process) it is the same in every process and
    release, so an entity always lands on the same shard and its order holds. Kinesis
    itself MD5-hashes the key to pick the shard, so nothing is lost by hashing first.

    Length is counted in UTF-16 code units, which is what Kinesis (a Java service)
    measures; it is >= ``len(key)``, so the check errs on the side of hashing.
    """
    if len(key.encode("utf-16-le", "surrogatepass")) // 2 <= MAX_PARTITION_KEY_CHARS:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def record_size(record: OutgoingRecord) -> int:
    """Bytes a record counts against the Kinesis limits: data + UTF-8 partition key."""
    key = effective_partition_key(record.partition_key)
    return len(record.data) + len(key.encode("utf-8", "surrogatepass"))


def chunk_records(
    records: Iterable[OutgoingRecord], rejected: list[OutgoingRecord] | None = None
) -> Iterator[list[OutgoingRecord]]:
    """Yield PutRecords-sized chunks (<= 500 records, <= 5 MiB), keeping input order.

    A record over 1 MiB is never yielded: it is appended to ``rejected``. Without a
    ``rejected`` list such a record raises ``ValueError`` rather than vanish.
    """
    fitting = []
    for record in records:
        if record_size(record) <= MAX_RECORD_BYTES:
            fitting.append(record)
        elif rejected is not None:
            rejected.append(record)
        else:
            raise ValueError(f"record of {record_size(record)} bytes is over 1 MiB")
    yield from split_by_limits(fitting, record_size)


def split_by_limits(
    items: Sequence[_T],
    size_of: Callable[[_T], int],
    *,
    max_items: int = MAX_RECORDS_PER_REQUEST,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> Iterator[list[_T]]:
    """Consecutive chunks of ``items``, each within ``max_items`` and ``max_bytes``, in order."""
    chunk: list[_T] = []
    total = 0
    for item in items:
        size = size_of(item)
        if chunk and (len(chunk) == max_items or total + size > max_bytes):
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += size
    if chunk:
        yield chunk


@dataclass(eq=False)
class _Item:
    """A record on its way: input position, key as sent, and its last error."""

    index: int
    record: OutgoingRecord
    key: str
    size: int
    attempts: int = 0
    error: tuple[str, str] | None = None
    retryable: bool = False


@dataclass(eq=False)
class _Tally:
    succeeded: list[tuple[int, tuple[OutgoingRecord, str, str]]] = field(default_factory=list)
    failed: list[tuple[int, tuple[OutgoingRecord, str, str]]] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    throttles: int = 0

    def result(self) -> PutResult:
        return PutResult(
            succeeded=[entry for _, entry in sorted(self.succeeded, key=lambda p: p[0])],
            failed=[entry for _, entry in sorted(self.failed, key=lambda p: p[0])],
            requests=self.requests,
            retries=self.retries,
            throttles=self.throttles,
        )


class KinesisWriter:
    """Put records on one stream, retrying failed records with full-jitter backoff.

    The client's own retries (botocore retry mode) multiply with these; a client
    built with ``Config(retries={"total_max_attempts": 1})`` leaves retrying to the
    writer, which is the one that knows about per-record failures.
    """

    def __init__(
        self,
        client: KinesisClient,
        stream_name: str,
        *,
        max_attempts: int = 8,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        deadline_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self._client = client
        self._stream_name = stream_name
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._deadline_seconds = deadline_seconds
        self._sleep = sleep
        self._rng = rng
        self._clock = clock

    def put(self, records: Iterable[OutgoingRecord]) -> PutResult:
        """Put ``records``; return what succeeded and what failed, never raise for either.

        The order rule. PutRecords does not stop at a failed record ("failure of
        individual records within a request does not stop the processing of
        subsequent records", PutRecords API reference): if K#1 and K#2 (same key,
        same shard) share a request, K#1 can be throttled while K#2 is stored, and
        K#1's retry then lands after K#2. Holding K#2 back only after K#1 failed is
        too late, so a key's next record is never in flight with an earlier one:

        1. Queue records per partition key (as sent), in input order.
        2. Each round, send only the head of every key's queue, in PutRecords-sized
           chunks. A head that succeeds leaves its queue, so that key's next record
           goes out next round, after a completed request stored its predecessor.
        3. A head that failed retryably stays head and is sent again next round,
           after a full-jitter sleep; its successors keep waiting behind it.
        4. A head that failed for good (non-retryable, over 1 MiB, ``max_attempts``
           used) goes to ``failed`` with its error; the rest of its queue goes to
           ``failed`` as ``OrderBlocked``, never sent.
        5. At the deadline, every queue is closed the same way (a head never sent
           gets ``DeadlineExceeded``).

        The cost: a key with n records needs n rounds. Fine for the router (a batch
        rarely holds several changes of one item); a hot-key publisher would want
        record aggregation instead.
        """
        deadline = self._clock() + self._deadline_seconds
        queues = _queue_by_key(records)
        tally = _Tally()
        while True:
            self._close_dead_queues(queues, tally)
            if not queues:
                return tally.result()
            heads = sorted((queue[0] for queue in queues.values()), key=lambda item: item.index)
            delay = self._delay_before(heads)
            if self._clock() + (delay or 0.0) > deadline:
                _close_all(queues, tally)
                return tally.result()
            if delay is not None:
                self._sleep(delay)
            for chunk in split_by_limits(heads, lambda item: item.size):
                self._send(chunk, queues, tally)

    def _delay_before(self, heads: list[_Item]) -> float | None:
        """Full-jitter delay before a round that retries; None when nothing is retried."""
        retrying = [item.attempts for item in heads if item.attempts]
        if not retrying:
            return None
        retry = max(retrying) - 1  # 0 before a record's first retry
        return full_jitter(retry, base=self._base_delay, cap=self._max_delay, rng=self._rng)

    def _close_dead_queues(self, queues: dict[str, deque[_Item]], tally: _Tally) -> None:
        for key in [key for key, queue in queues.items() if self._is_dead(queue[0])]:
            _close_queue(queues.pop(key), tally)

    def _is_dead(self, head: _Item) -> bool:
        if head.error is None:
            return False
        return not head.retryable or head.attempts >= self._max_attempts

    def _send(self, chunk: list[_Item], queues: dict[str, deque[_Item]], tally: _Tally) -> None:
        tally.requests += 1
        tally.retries += sum(1 for item in chunk if item.attempts)
        for item in chunk:
            item.attempts += 1
        entries = [{"Data": item.record.data, "PartitionKey": item.key} for item in chunk]
        try:
            response = self._client.put_records(StreamName=self._stream_name, Records=entries)
        except (ClientError, BotoCoreError) as exc:
            code, message, retryable = _classify(exc)
            tally.throttles += len(chunk) if code in _THROTTLE_CODES else 0
            for item in chunk:
                item.error, item.retryable = (code, message), retryable
            return
        for item, entry in zip(chunk, response["Records"], strict=True):
            code = entry.get("ErrorCode")
            if code is None:
                queue = queues[item.key]
                queue.popleft()  # item is this queue's head: only heads are sent
                if not queue:
                    del queues[item.key]
                stored = (item.record, entry["ShardId"], entry["SequenceNumber"])
                tally.succeeded.append((item.index, stored))
            else:
                tally.throttles += code in _THROTTLE_CODES
                item.error = (code, entry.get("ErrorMessage", ""))
                item.retryable = code in _RETRYABLE_RECORD_CODES


def _queue_by_key(records: Iterable[OutgoingRecord]) -> dict[str, deque[_Item]]:
    queues: dict[str, deque[_Item]] = {}
    for index, record in enumerate(records):
        key = effective_partition_key(record.partition_key)
        item = _Item(index, record, key, record_size(record))
        if item.size > MAX_RECORD_BYTES:
            # Failed before sending; it stays in its queue so the records of its key
            # before it are still sent, and those after it are OrderBlocked.
            message = f"{item.size} bytes (data + key) is over {MAX_RECORD_BYTES}"
            item.error = (RECORD_TOO_LARGE, message)
        queues.setdefault(key, deque()).append(item)
    return queues


def _close_queue(queue: deque[_Item], tally: _Tally) -> None:
    head = queue.popleft()
    code, message = head.error or (DEADLINE_EXCEEDED, "not sent before the writer's deadline")
    tally.failed.append((head.index, (head.record, code, message)))
    blocked = f"not sent: an earlier record with this partition key failed ({code})"
    for item in queue:
        tally.failed.append((item.index, (item.record, ORDER_BLOCKED, blocked)))


def _close_all(queues: dict[str, deque[_Item]], tally: _Tally) -> None:
    for queue in queues.values():
        _close_queue(queue, tally)
    queues.clear()


def _classify(exc: ClientError | BotoCoreError) -> tuple[str, str, bool]:
    """Return (error code, message, retryable) for a whole-request failure."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        retryable = code in _RETRYABLE_REQUEST_CODES or status >= 500
        return code, error.get("Message", str(exc)), retryable
    # Connection refused/reset/timed out: the request may or may not have been stored;
    # a retry may duplicate it, which versioned projections ignore (schemas.envelope).
    connection = isinstance(exc, (BotoConnectionError, HTTPClientError))
    return type(exc).__name__, str(exc), connection
