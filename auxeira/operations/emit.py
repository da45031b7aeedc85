"""Put envelopes on an environment's events stream: the normal path, for operations that
re-emit changes (backfill snapshots, verify repairs, redrives of router dead letters).

Consumers then apply them exactly as live traffic, so a re-emitted change is ordered and
deduplicated by the same rules (its order, its deterministic event id).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from auxeira.operations.environment import Environment
from auxeira.runtime.clients import CALLER_RETRIES
from producers.kinesis_writer import MAX_RECORD_BYTES, KinesisWriter, OutgoingRecord, record_size
from producers.synthetic.ratelimit import TokenBucket
from schemas.envelope import Envelope, encode, partition_key

__all__ = ["EmitResult", "emit"]


@dataclass
class EmitResult:
    """What :func:`emit` did: envelopes put, and the ones that could not be (with why)."""

    put: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (event id, reason)

    def add(self, other: EmitResult) -> None:
        self.put += other.put
        self.failed += other.failed


def emit(
    env: Environment,
    envelopes: Iterable[Envelope],
    *,
    rate: float | None = None,
    chunk: int = 500,
    on_progress: Callable[[int], None] | None = None,
) -> EmitResult:
    """Put ``envelopes`` on the events stream in PutRecords chunks, at most ``rate`` per second.

    An envelope over Kinesis' 1 MiB record limit is a failure of its own (never sent);
    records the writer could not put after its retries are failures too, returned as data.
    """
    writer = KinesisWriter(env.clients.client("kinesis", config=CALLER_RETRIES), env.stream_name)
    limiter = TokenBucket(rate, burst=max(1.0, rate / 10)) if rate else None
    result, pending = EmitResult(), []
    for envelope in envelopes:
        record = OutgoingRecord(encode(envelope), partition_key(envelope), ref=envelope.event_id)
        if record_size(record) > MAX_RECORD_BYTES:
            result.failed.append((envelope.event_id, f"{record_size(record)} bytes, over the 1 MiB record limit"))
            continue
        if limiter is not None:
            limiter.acquire()
        pending.append(record)
        if len(pending) >= chunk:
            result.add(_put(writer, pending, on_progress))
            pending = []
    if pending:
        result.add(_put(writer, pending, on_progress))
    return result


def _put(writer: KinesisWriter, records: list[OutgoingRecord], on_progress: Callable[[int], None] | None) -> EmitResult:
    outcome = writer.put(records)
    if on_progress is not None:
        on_progress(len(outcome.succeeded))
    return EmitResult(
        len(outcome.succeeded), [(str(r.ref), f"{code}: {message}") for r, code, message in outcome.failed]
    )
