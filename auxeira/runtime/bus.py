"""Kinesis record -> envelopes, for every consumer.

The one place that knows how events travel on the bus: a record's data is either one
JSON envelope, or a KPL aggregated record (:mod:`schemas.wire.kpl`) carrying several,
de-aggregated here so every consumer reads both kinds the same way.

What is poison and what is not (one rule for every consumer): poison is only what
cannot be decoded or validated, or breaks the trust boundary. An event type a consumer
does not project (an entity or action it does not know yet, a published occurrence the
cache does not hold) is *not* poison: the projection returns nothing, and the record is
skipped and counted. So a producer can add an event type before every consumer is
redeployed.

The trust boundary: only the router speaks for a table's entities. An envelope naming
a table entity must come from a table (``source.table`` set, no ``source.publisher``);
a published event claiming a table entity type (``startup.recorded`` at a high version
would otherwise overwrite the cached startup and block its real updates) is refused as
poison. The publisher SDK refuses such events before sending, and the event registry
refuses to register a model under a table entity's name.
"""

from __future__ import annotations

from typing import Any

import pybase64

from schemas import catalog
from schemas.envelope import Envelope, decode, partition_key
from schemas.errors import PoisonRecordError
from schemas.wire.kpl import deaggregate, is_aggregated

__all__ = ["envelopes_of", "kinesis_payload", "order_key"]


def envelopes_of(data: bytes) -> list[Envelope]:
    """Envelopes carried by one record's payload, in the order they were put.

    A plain record gives one envelope; a KPL aggregated record gives one per user
    record. One bad user record makes the whole aggregated record poison: it is
    dead-lettered whole (its good neighbours with it, recoverable by redriving the
    dead letter), since a Kinesis record is the unit a consumer checkpoints.

    Raises:
        PoisonRecordError: undecodable, schema-invalid, of an unknown major schema
            version, or a published event claiming a table entity; for an aggregated
            record the message says which user record.
    """
    if not is_aggregated(data):
        return [_trusted(decode(data))]
    payloads = deaggregate(data)
    envelopes = []
    for index, payload in enumerate(payloads):
        try:
            envelopes.append(_trusted(decode(payload)))
        except PoisonRecordError as exc:
            where = f"user record {index} of {len(payloads)} in a KPL aggregated record"
            raise PoisonRecordError(f"{where}: {exc}") from exc
    return envelopes


def order_key(envelope: Envelope) -> str:
    """Events with the same order key must be applied in stream order."""
    return partition_key(envelope)


def _trusted(envelope: Envelope) -> Envelope:
    if envelope.entity in catalog.ENTITIES and (envelope.source.publisher or not envelope.source.table):
        raise PoisonRecordError(
            f"event {envelope.event_id}: {envelope.event_type!r} claims table entity {envelope.entity!r} but "
            f"comes from {'publisher ' + repr(envelope.source.publisher) if envelope.source.publisher else 'no table'}"
            "; only the stream router speaks for a table's entities"
        )
    if not envelope.event_type.startswith(envelope.entity + "."):
        raise PoisonRecordError(
            f"event {envelope.event_id}: event type {envelope.event_type!r} does not name entity {envelope.entity!r}"
        )
    return envelope


def kinesis_payload(record: Any) -> bytes:
    """The raw bytes of a powertools ``KinesisStreamRecord`` (base64-decoded).

    pybase64 (SIMD) instead of ``binascii``: on ~1.5 KB of base64 it takes a quarter of
    the time, and this runs once per record on every consumer's hot path.
    """
    try:
        return pybase64.b64decode(record.raw_event["kinesis"]["data"], validate=True)
    except (KeyError, ValueError, TypeError) as exc:
        raise PoisonRecordError(f"record data is not base64: {exc}") from exc
