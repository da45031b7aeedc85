"""The event envelope: one typed shape for every change on the bus.

The ordering rule
-----------------
Every projection keeps, per item, the change with the highest :attr:`Envelope.order`,
and ignores anything not strictly higher (duplicates, late arrivals, replays). The order
is the pair ``(version, sequence)``, compared version first:

* ``version`` is the item's ``version`` attribute, which the repository keeps (1, 2, ...
  under a conditional write), or 0 for an item whose writer keeps none;
* ``sequence`` is the DynamoDB stream sequence number of the change (0 for a
  published fact or a backfill snapshot, which have none).

So one item's changes are ordered whatever mix of writers made them: a foreign writer's
unversioned changes order among themselves by the stream; the repository's first
versioned write outranks them; a writer that changes a versioned item without bumping
``version`` still wins by sequence; a delete or TTL expiry keeps the removed version and
wins by its later sequence. A snapshot (backfill) of version ``v`` is ``(v, 0)``: below
any streamed change of that version, so it can fill a projection but never overwrite
what the stream already brought. The one case the rule cannot order is a writer that
*drops* ``version`` from an item the repository versioned: its changes rank below the
versioned ones (a known limit: do not remove ``version``).

The pair is one integer, ``version * 10**40 + sequence`` (DynamoDB sequence numbers
have at most 40 digits), which every sink stores zero-padded to
:data:`ORDER_DIGITS` digits, so string order is this order.

Reading and writing
-------------------
Strict when writing: an :class:`Envelope` refuses unknown fields. Tolerant when reading
(:func:`decode`): unknown fields are ignored (the raw archive keeps them), a newer minor
:data:`SCHEMA_VERSION` is accepted, and only an unknown *major* version is refused,
with the reason. So a producer can add a field or an event type before every consumer
is redeployed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.errors import PoisonRecordError

__all__ = [
    "MAX_ORDER",
    "ORDER_DIGITS",
    "SCHEMA_MAJOR",
    "SCHEMA_VERSION",
    "SEQUENCE_DIGITS",
    "Action",
    "Envelope",
    "Source",
    "decode",
    "encode",
    "event_id_for",
    "order_of",
    "partition_key",
    "version_of_order",
]

#: ``major.minor``: a consumer reads every minor of its major.
SCHEMA_VERSION = "1.0"
SCHEMA_MAJOR = 1
#: DynamoDB stream sequence numbers are 21 to 40 digits (Streams API, StreamRecord).
SEQUENCE_DIGITS = 40
#: Digits of a stored order: a version below 10**20 and a 40-digit sequence.
ORDER_DIGITS = 60
MAX_ORDER = 10**ORDER_DIGITS - 1
_SEQUENCE_SPAN = 10**SEQUENCE_DIGITS

#: Namespace for deterministic event ids (uuid5 of the source change).
_EVENT_NAMESPACE = uuid.UUID("6f1f3b9e-3c1e-4b7a-9d55-8a1d0c7e2b10")


class Action(StrEnum):
    """What happened to the entity; the part after the dot in ``event_type``."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    SOFT_DELETED = "soft_deleted"
    EXPIRED = "expired"
    # A fact published by a service with no table behind it (page view, chatbot turn).
    RECORDED = "recorded"
    # A backfill's copy of an item as a scan found it (no stream position).
    SNAPSHOT = "snapshot"

    @property
    def removes(self) -> bool:
        """True when the entity is gone after this action."""
        return self in (Action.DELETED, Action.EXPIRED)


class Source(BaseModel):
    """Where the change came from: a table (and its stream position), or a publisher."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    table: str | None = None
    sequence_number: str | None = None
    approximate_creation_time: datetime | None = None
    publisher: str | None = None


class Envelope(BaseModel):
    """One change to one entity, as every consumer sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    event_type: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z_]+$")
    schema_version: str = SCHEMA_VERSION
    tenant_id: str = Field(min_length=1)
    entity: str
    key: str = Field(min_length=1)
    #: The writer's version (the item's ``version`` attribute; 0 when it keeps none).
    version: int = Field(ge=0, lt=10**20)
    source: Source
    occurred_at: datetime
    actor: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    @field_validator("schema_version", mode="before")
    @classmethod
    def _schema_version(cls, value: Any) -> Any:
        # Schema 1 envelopes written before minors existed carry the integer 1.
        return f"{value}.0" if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def action(self) -> Action:
        """The action half of ``event_type`` (raises ``ValueError`` if unknown)."""
        return Action(self.event_type.rpartition(".")[2])

    @property
    def state(self) -> dict[str, Any] | None:
        """The entity's public state after the event (None once removed)."""
        return None if self.action.removes else self.after

    @property
    def order(self) -> int:
        """``(version, sequence)`` as one integer: see the module's ordering rule."""
        return order_of(self.version, self.source.sequence_number)


def order_of(version: int, sequence: str | None) -> int:
    """The order of a change at ``version`` and stream ``sequence`` (None or '' for none)."""
    position = int(sequence) if sequence and sequence.isdigit() else 0
    return version * _SEQUENCE_SPAN + min(position, _SEQUENCE_SPAN - 1)


def version_of_order(order: int) -> int:
    """The writer's version inside an order."""
    return order // _SEQUENCE_SPAN


def partition_key(envelope: Envelope) -> str:
    """Kinesis partition key and ordering key: ``tenant:entity:key``, so one entity's events
    stay in order on one shard (two tables can share a key value, hence tenant and entity)."""
    return f"{envelope.tenant_id}:{envelope.entity}:{envelope.key}"


def event_id_for(source: str, position: str) -> str:
    """Deterministic id of a change: routing the same stream record twice gives the same id.

    Args:
        source: the stream or table the change came from.
        position: its position there (stream sequence number, or a publisher's own id).
    """
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{source}\x1f{position}"))


def encode(envelope: Envelope) -> bytes:
    """Envelope to JSON bytes (orjson: UTC datetimes, no spaces).

    ``before`` and ``after`` are envelope JSON already (:mod:`schemas.wire.json_values`):
    numbers beyond a double or int64 and binaries travel as tags, so orjson writes them
    exactly.
    """
    return orjson.dumps(envelope.model_dump(mode="python", exclude_none=False))


_FIELDS = frozenset(Envelope.model_fields)
_SOURCE_FIELDS = frozenset(Source.model_fields)


def decode(data: bytes | str) -> Envelope:
    """JSON bytes to an envelope, tolerantly (see the module docstring).

    Raises:
        PoisonRecordError: the bytes are not JSON, not a valid envelope (the message
            names the offending fields), or of a major schema version this code does
            not know.
    """
    # orjson then validation of the dict is ~25% faster than pydantic's own JSON parser
    # here: before/after are dict[str, Any], which orjson builds natively.
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PoisonRecordError(f"invalid envelope: not JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise PoisonRecordError(f"invalid envelope: a JSON {type(raw).__name__}, not an object")
    _check_major(raw.get("schema_version", SCHEMA_VERSION))
    if not _FIELDS.issuperset(raw):
        raw = {k: v for k, v in raw.items() if k in _FIELDS}
    source = raw.get("source")
    if isinstance(source, dict) and not _SOURCE_FIELDS.issuperset(source):
        raw["source"] = {k: v for k, v in source.items() if k in _SOURCE_FIELDS}
    try:
        return Envelope.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise PoisonRecordError(f"invalid envelope: {fields}") from exc


def _check_major(version: Any) -> None:
    text = str(version)
    major = text.partition(".")[0]
    if not major.isdigit():
        raise PoisonRecordError(f"invalid envelope: schema_version {version!r} is not major.minor")
    if int(major) != SCHEMA_MAJOR:
        raise PoisonRecordError(
            f"envelope schema version {text} has major {major}; this consumer reads major {SCHEMA_MAJOR}: "
            "deploy a consumer that knows it, then redrive"
        )
