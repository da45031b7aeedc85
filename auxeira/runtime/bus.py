"""Kinesis record -> envelopes, for every consumer.

The one place that knows how events travel on the bus: a record's data is either one
JSON envelope, or a KPL aggregated record (``producers.aggregation``: magic bytes,
protobuf, MD5) carrying several JSON envelopes, which is de-aggregated here so every
consumer reads both kinds the same way. Anything that cannot become a known envelope
is a :class:`PoisonRecordError`.

Entities known to consumers: every table entity of ``schemas.catalog`` and every
published (table-less) event registered in ``schemas.events.REGISTRY``, including
models registered after this module was imported (checked at decode time). A consumer
process knows the published events of the modules it imports: ``schemas.events``
registers the seeds' events; a model registered elsewhere is unknown (poison) to a
consumer that does not import its module.
"""

from __future__ import annotations

from typing import Any

import pybase64

from schemas import catalog
from schemas.envelope import Envelope, decode
from schemas.errors import PoisonRecordError
from schemas.events import REGISTRY
from schemas.wire.kpl import deaggregate, is_aggregated

__all__ = ["KNOWN_ENTITIES", "envelopes_of", "kinesis_payload", "order_key"]

#: Entities consumers accept: the tables' and the published events' registered at import
#: (later registrations are accepted too, see ``_known``).
KNOWN_ENTITIES: set[str] = set(catalog.ENTITIES) | set(REGISTRY.entities)


def envelopes_of(data: bytes) -> list[Envelope]:
    """Envelopes carried by one record's payload, in the order they were put.

    A plain record gives one envelope; a KPL aggregated record gives one per user
    record. One bad user record makes the whole aggregated record poison: it is
    dead-lettered whole (its good neighbours with it, recoverable by replaying the
    dead letter), since a Kinesis record is the unit a consumer checkpoints.

    Raises:
        PoisonRecordError: undecodable, schema-invalid, or of an unknown event type;
            for an aggregated record the message says which user record.
    """
    if not is_aggregated(data):
        return [_known(decode(data))]
    payloads = deaggregate(data)
    envelopes = []
    for index, payload in enumerate(payloads):
        try:
            envelopes.append(_known(decode(payload)))
        except PoisonRecordError as exc:
            where = f"user record {index} of {len(payloads)} in a KPL aggregated record"
            raise PoisonRecordError(f"{where}: {exc}") from exc
    return envelopes


def order_key(envelope: Envelope) -> str:
    """Events with the same order key must be applied in stream order."""
    return f"{envelope.tenant_id}:{envelope.entity}:{envelope.key}"


def _known(envelope: Envelope) -> Envelope:
    try:
        _ = envelope.action
    except ValueError:
        raise PoisonRecordError(f"event {envelope.event_id}: unknown event type {envelope.event_type!r}") from None
    entity = envelope.entity
    known = entity in KNOWN_ENTITIES or entity in REGISTRY
    if not known or not envelope.event_type.startswith(entity + "."):
        raise PoisonRecordError(
            f"event {envelope.event_id}: unknown event type {envelope.event_type!r} for entity {envelope.entity!r}"
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
