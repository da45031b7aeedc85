"""Dead letters and failure records as one kind of thing an operator looks at: a :class:`DlqItem`.

Two stores hold what the pipeline set aside, and on-call should not need to know which:

* the handlers' **dead letters** (``{lake}/dlq/{consumer}/dt=.../*.json``): one record
  each, with its cause, secrets redacted (:mod:`auxeira.runtime.dead_letters`);
* the event source mappings' **failure records**: one discarded batch each, in the S3
  shape Lambda writes (:mod:`auxeira.runtime.failure_records`), with the invocation as
  payload, or without one (then only a shard and sequence range). The local runner writes
  them under ``{lake}/failures/aws/lambda/...json``; on AWS, Lambda writes
  ``aws/lambda/<mapping>/<shard>/YYYY/MM/DD/<time>-<uuid>`` (no suffix) at the root of the
  failure bucket, which is read when its root is given (``failures_root``).

An item's id is its key under the lake root (what :attr:`DeadLetter.id` already is), or,
for the failure bucket, ``{bucket root}/{key}``: an id always names one object, so
``auxeira dlq show ID`` needs nothing else.

``FailureRecord`` keeps neither the function ARN nor the arrival times, so the raw
document is read once more here for them (the consumer, and the window to replay when the
stream no longer holds the records).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from auxeira.runtime import failure_records
from auxeira.runtime.dead_letters import DeadLetter
from auxeira.runtime.objects import ObjectStore
from schemas.resources import LAKE, REGISTRY

__all__ = [
    "DEAD_LETTER",
    "FAILURE_RECORD",
    "LAMBDA_PREFIX",
    "UNREADABLE",
    "DlqItem",
    "Selection",
    "Stores",
    "consumer_of",
    "parse_since",
]

DEAD_LETTER, FAILURE_RECORD = "dead_letter", "failure_record"
#: The error type of an object that does not parse (listed, never skipped, never redriven).
UNREADABLE = "Unreadable"
#: Where Lambda writes failure records in its destination bucket (a bucket ARN, no prefix).
LAMBDA_PREFIX = "aws/lambda/"
_CONSUMERS = tuple(m.consumer for m in REGISTRY.mappings)
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class DlqItem:
    """One dead letter or one failure record, with what listing, showing and redriving need.

    Attributes:
        consumer: the deployable whose handler takes the records (``router``, ``cache``...).
        mapping: the name the record came from in full (``router:auxeira-startups-local``,
            ``auxeira-cache-prod``), for the reader.
        source: ``kinesis`` (the events stream) or ``dynamodb`` (a table stream).
        records: the Lambda-shaped records; None for a failure record without payload.
        store, key: where the object lives (the lake, or the failure bucket).
    """

    id: str
    kind: str  # DEAD_LETTER or FAILURE_RECORD
    consumer: str
    mapping: str
    source: str
    error_type: str
    message: str
    at: str
    shard_id: str
    first_sequence: str
    last_sequence: str
    source_arn: str
    attempts: int
    batch_size: int
    records: list[dict[str, Any]] | None
    store: ObjectStore
    key: str
    letter: DeadLetter | None = None
    first_arrival: str | None = None
    last_arrival: str | None = None

    @property
    def time(self) -> datetime | None:
        return _instant(self.at)

    def summary(self) -> dict[str, Any]:
        """The item without its records (what ``dlq list --json`` prints per item)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "consumer": self.consumer,
            "mapping": self.mapping,
            "error_type": self.error_type,
            "message": self.message,
            "at": self.at,
            "attempts": self.attempts,
            "source": self.source,
            "source_arn": self.source_arn,
            "shard_id": self.shard_id,
            "first_sequence": self.first_sequence,
            "last_sequence": self.last_sequence,
            "records": self.batch_size,
            "payload": self.records is not None,
        }


@dataclass(frozen=True)
class Selection:
    """Which items an operator asked for (``--consumer``, ``--since``, ``--error-type``)."""

    consumer: str | None = None
    since: datetime | None = None
    error_type: str | None = None

    def matches(self, item: DlqItem) -> bool:
        if self.consumer and item.consumer != self.consumer:
            return False
        if self.error_type and item.error_type.lower() != self.error_type.lower():
            return False
        if self.since is not None:
            at = item.time
            return at is None or at >= self.since  # an unreadable time is shown, not hidden
        return True


class Stores:
    """The lake, and the failure bucket when it is another one."""

    def __init__(self, lake: ObjectStore, failures: ObjectStore | None = None):
        self.lake = lake
        self.failures = failures

    def items(self) -> Iterator[DlqItem]:
        """Every dead letter, then every failure record (the lake's, then the bucket's)."""
        for key in self.lake.list(f"{LAKE.dead_letters}/"):
            if key.endswith(".json"):
                yield self._read(self.lake, key, key)
        for key in self.lake.list(f"{LAKE.failures}/"):
            yield self._read(self.lake, key, key)
        if self.failures is not None:
            for key in self.failures.list(LAMBDA_PREFIX):
                yield self._read(self.failures, key, self._bucket_id(key))

    def get(self, item_id: str) -> DlqItem | None:
        """The item of an id, None when no such object exists (any more)."""
        store, key = self._locate(item_id)
        if store is None or not store.exists(key):
            return None
        return self._read(store, key, self.id_of(store, key))

    def _read(self, store: ObjectStore, key: str, item_id: str) -> DlqItem:
        """The item of one object; one that does not parse is listed as ``Unreadable``, never skipped."""
        body = store.get(key)
        try:
            if store is self.lake and key.startswith(f"{LAKE.dead_letters}/"):
                return _from_letter(store, key, DeadLetter.from_json(body))
            return _from_failure(store, key, item_id, body)
        except (ValueError, KeyError, TypeError) as exc:  # orjson's JSONDecodeError is a ValueError
            return _unreadable(store, key, item_id, f"{type(exc).__name__}: {exc}")

    def id_of(self, store: ObjectStore, key: str) -> str:
        """The id of an object: its key in the lake, ``{root}/{key}`` in the failure bucket."""
        return key if store is self.lake else f"{store.root.rstrip('/')}/{key}"

    def _bucket_id(self, key: str) -> str:
        assert self.failures is not None
        return self.id_of(self.failures, key)

    def _locate(self, item_id: str) -> tuple[ObjectStore | None, str]:
        if self.failures is not None and item_id.startswith(self.failures.root.rstrip("/") + "/"):
            return self.failures, item_id[len(self.failures.root.rstrip("/")) + 1 :]
        if self.failures is not None and item_id.startswith(LAMBDA_PREFIX):  # the bucket's own key
            return self.failures, item_id
        if item_id.startswith((f"{LAKE.dead_letters}/", f"{LAKE.failures}/")):
            return self.lake, item_id
        return None, item_id


def consumer_of(function_arn: str, stream_arn: str) -> tuple[str, str]:
    """``(consumer, function name)`` of a failure record.

    The local runner writes ``local:function:<consumer>`` (the router's mappings
    ``router:<table>``); deployed functions are named ``auxeira-<consumer>-<env>``
    (``infra.cloudformation.deployables``; ``auxeira-<env>-<consumer>`` is read too). When
    the name says nothing, the stream does: only the router reads a DynamoDB stream.
    """
    name = function_arn.split(":function:", 1)[1] if ":function:" in function_arn else ""
    head = name.split(":", 1)[0]
    if head in _CONSUMERS:
        return head, name
    if head.startswith("auxeira-"):
        parts = head.removeprefix("auxeira-").split("-")
        for candidate in (parts[0], parts[-1]):
            if candidate in _CONSUMERS:
                return candidate, head
    if ":dynamodb:" in stream_arn:
        return "router", head or "router"
    return "unknown", head or function_arn or "unknown"


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: a duration back from now (``90m``, ``6h``, ``2d``, ``1w``) or an ISO 8601
    date or time (UTC unless it says otherwise).

    Raises:
        ValueError: neither (the command line reports it as the user's mistake).
    """
    match = _DURATION.match(text)
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2)]
        return (now or datetime.now(UTC)) - timedelta(**{unit: amount})
    at = _instant(text.strip())
    if at is None:
        raise ValueError(f"--since {text!r}: give a duration (90m, 6h, 2d) or an ISO date or time")
    return at


def _instant(text: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _from_letter(store: ObjectStore, key: str, letter: DeadLetter) -> DlqItem:
    source = "kinesis" if "kinesis" in letter.record else "dynamodb"
    return DlqItem(
        id=key,
        kind=DEAD_LETTER,
        consumer=letter.consumer.partition(":")[0],
        mapping=letter.consumer,
        source=source,
        error_type=letter.error_type,
        message=letter.message,
        at=letter.at,
        shard_id=letter.shard_id,
        first_sequence=letter.sequence_number,
        last_sequence=letter.sequence_number,
        source_arn=letter.source_arn,
        attempts=letter.attempts,
        batch_size=1,
        records=[letter.record],
        store=store,
        key=key,
        letter=letter,
    )


def _unreadable(store: ObjectStore, key: str, item_id: str, why: str) -> DlqItem:
    kind = DEAD_LETTER if key.startswith(f"{LAKE.dead_letters}/") else FAILURE_RECORD
    return DlqItem(
        id=item_id,
        kind=kind,
        consumer="unknown",
        mapping="unknown",
        source="unknown",
        error_type=UNREADABLE,
        message=f"the object does not parse: {why}",
        at="",
        shard_id="",
        first_sequence="",
        last_sequence="",
        source_arn="",
        attempts=0,
        batch_size=0,
        records=None,
        store=store,
        key=key,
    )


def _from_failure(store: ObjectStore, key: str, item_id: str, body: bytes) -> DlqItem:
    parsed = failure_records.parse(key, body)
    doc: Mapping[str, Any] = orjson.loads(body)
    info = doc.get("KinesisBatchInfo") or doc.get("DDBStreamBatchInfo") or {}
    context = doc.get("requestContext") or {}
    consumer, name = consumer_of(str(context.get("functionArn", "")), parsed.stream_arn)
    function_error = (doc.get("responseContext") or {}).get("functionError")
    message = f"{parsed.condition} after {parsed.invoke_count} invocations"
    return DlqItem(
        id=item_id,
        kind=FAILURE_RECORD,
        consumer=consumer,
        mapping=name,
        source=parsed.kind,
        error_type=parsed.condition or "unknown",
        message=f"{message} (function error: {function_error})" if function_error else message,
        at=parsed.timestamp,
        shard_id=parsed.shard_id,
        first_sequence=parsed.start_sequence,
        last_sequence=parsed.end_sequence,
        source_arn=parsed.stream_arn,
        attempts=parsed.invoke_count,
        batch_size=parsed.batch_size or len(parsed.records or ()),
        records=parsed.records,
        store=store,
        key=key,
        first_arrival=info.get("approximateArrivalOfFirstRecord"),
        last_arrival=info.get("approximateArrivalOfLastRecord"),
    )
