"""DynamoDB stream record -> event envelope (pure).

Input is one record in the Lambda event shape (``eventName``, ``eventSourceARN``,
``dynamodb.{Keys,NewImage,OldImage,SequenceNumber,ApproximateCreationDateTime}``,
optional ``userIdentity``). Output is an :class:`~schemas.envelope.Envelope` with
secrets removed, or :class:`~schemas.errors.PoisonRecordError` for a record that can
never become one.

TTL expiries are told apart from user deletes two ways, because the two runtimes
disagree: AWS sends ``REMOVE`` with ``userIdentity.principalId ==
"dynamodb.amazonaws.com"``; DynamoDB Local sends ``eventName ==
"UNKNOWN_TO_SDK_VERSION"`` with no ``userIdentity`` (see shared LOCAL_STACK.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from schemas import catalog
from schemas.envelope import Action, Envelope, Source, event_id_for
from schemas.errors import PoisonRecordError
from schemas.fields import drop_paths
from schemas.tables import EntitySpec, TableSpec
from schemas.wire.dynamodb import deserialize_item

__all__ = ["TTL_PRINCIPAL", "partition_key", "table_name_of", "to_envelope"]

TTL_PRINCIPAL = "dynamodb.amazonaws.com"
_LOCAL_TTL_EVENT = "UNKNOWN_TO_SDK_VERSION"
_MAX_PARTITION_KEY = 256

Resolver = Callable[[str], tuple[TableSpec, str]]


def to_envelope(record: Mapping[str, Any], resolve: Resolver = catalog.resolve) -> Envelope:
    """Map one stream record to its envelope.

    Raises:
        PoisonRecordError: unknown table, item without tenant or key, unknown event name.
    """
    ddb = record.get("dynamodb") or {}
    sequence = str(ddb.get("SequenceNumber") or "")
    if not sequence:
        raise PoisonRecordError("stream record has no dynamodb.SequenceNumber")
    spec, _env = resolve(table_name_of(record))
    new = deserialize_item(ddb["NewImage"]) if ddb.get("NewImage") else None
    old = deserialize_item(ddb["OldImage"]) if ddb.get("OldImage") else None
    action = _action(record, new, old)
    image = new if new is not None else old
    if image is None:
        raise PoisonRecordError(f"stream record {sequence}: no image (stream view type must be NEW_AND_OLD_IMAGES)")
    entity = spec.entity_for(image)
    return Envelope(
        event_id=event_id_for(str(record.get("eventSourceARN", "")), sequence),
        event_type=f"{entity.name}.{action.value}",
        tenant_id=spec.tenant_of(entity, image),
        entity=entity.name,
        key=spec.key_of(image),
        version=_version(action, new, old, sequence),
        source=Source(
            table=spec.physical_name(_env),
            sequence_number=sequence,
            approximate_creation_time=_approximate_time(ddb),
        ),
        occurred_at=_approximate_time(ddb) or datetime.now(UTC),
        actor=_actor(action, image, record),
        before=_public(entity, old),
        after=None if action.removes else _public(entity, new),
    )


def partition_key(envelope: Envelope) -> str:
    """Kinesis partition key: the entity key, so one entity's events stay in order.

    The tenant and entity are part of it because two tables can share a key value.
    Keys over Kinesis' 256-character limit are shortened by the writer.
    """
    return f"{envelope.tenant_id}:{envelope.entity}:{envelope.key}"


def table_name_of(record: Mapping[str, Any]) -> str:
    """Table name from ``arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL``."""
    arn = str(record.get("eventSourceARN", ""))
    _, sep, rest = arn.partition(":table/")
    if not sep:
        raise PoisonRecordError(f"stream record has no table in eventSourceARN {arn!r}")
    return rest.split("/", 1)[0]


def _action(record: Mapping[str, Any], new: dict | None, old: dict | None) -> Action:
    name = record.get("eventName")
    if name == "INSERT":
        return Action.CREATED
    if name == "MODIFY":
        if new and new.get("deleted_at") and not (old or {}).get("deleted_at"):
            return Action.SOFT_DELETED
        return Action.UPDATED
    identity = record.get("userIdentity") or {}
    if name == "REMOVE":
        is_ttl = identity.get("type") == "Service" and identity.get("principalId") == TTL_PRINCIPAL
        return Action.EXPIRED if is_ttl else Action.DELETED
    if name == _LOCAL_TTL_EVENT and new is None and old is not None:
        return Action.EXPIRED
    raise PoisonRecordError(f"unknown stream eventName {name!r}")


def _version(action: Action, new: dict | None, old: dict | None, sequence: str) -> int:
    """Writer-maintained ``version`` when present, else the stream sequence number.

    A removal outranks the state it removes: old version + 1.
    """
    image = old if action.removes else new
    stored = (image or {}).get("version")
    if isinstance(stored, int) and not isinstance(stored, bool):
        return stored + 1 if action.removes else stored
    try:
        return int(sequence)
    except ValueError:
        raise PoisonRecordError(f"sequence number {sequence!r} is not a number") from None


def _actor(action: Action, image: Mapping[str, Any], record: Mapping[str, Any]) -> str | None:
    if action is Action.EXPIRED:
        return TTL_PRINCIPAL
    if action is Action.SOFT_DELETED:
        return image.get("deleted_by")
    if action is Action.DELETED:
        return (record.get("userIdentity") or {}).get("principalId")
    return image.get("updated_by") or image.get("created_by")


def _approximate_time(ddb: Mapping[str, Any]) -> datetime | None:
    value = ddb.get("ApproximateCreationDateTime")
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(float(value), tz=UTC)


def _public(entity: EntitySpec, image: dict | None) -> dict | None:
    if image is None:
        return None
    return drop_paths(image, entity.secret) if entity.secret else image
