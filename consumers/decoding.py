"""Kinesis record -> envelopes, for every consumer.

The one place that knows how events travel on the bus: JSON envelopes, one per
record today (and, once producers aggregate, several per KPL-aggregated record).
Anything that cannot become a known envelope is a :class:`PoisonRecordError`.
"""

from __future__ import annotations

from typing import Any

from schemas import catalog
from schemas.envelope import Envelope, decode
from schemas.errors import PoisonRecordError

__all__ = ["envelopes_of", "order_key", "KNOWN_ENTITIES"]

#: Entities consumers accept; published (table-less) event types register here too.
KNOWN_ENTITIES: set[str] = set(catalog.ENTITIES)


def envelopes_of(data: bytes) -> list[Envelope]:
    """Envelopes carried by one record's payload.

    Raises:
        PoisonRecordError: undecodable, schema-invalid, or of an unknown event type.
    """
    envelope = decode(data)
    _check_known(envelope)
    return [envelope]


def order_key(envelope: Envelope) -> str:
    """Events with the same order key must be applied in stream order."""
    return f"{envelope.tenant_id}:{envelope.entity}:{envelope.key}"


def _check_known(envelope: Envelope) -> None:
    try:
        envelope.action
    except ValueError:
        raise PoisonRecordError(
            f"event {envelope.event_id}: unknown event type {envelope.event_type!r}"
        ) from None
    if envelope.entity not in KNOWN_ENTITIES or not envelope.event_type.startswith(envelope.entity + "."):
        raise PoisonRecordError(
            f"event {envelope.event_id}: unknown event type {envelope.event_type!r} "
            f"for entity {envelope.entity!r}"
        )


def kinesis_payload(record: Any) -> bytes:
    """The raw bytes of a powertools ``KinesisStreamRecord`` (base64-decoded)."""
    try:
        return record.kinesis.data_as_bytes()
    except (ValueError, TypeError) as exc:
        raise PoisonRecordError(f"record data is not base64: {exc}") from exc
