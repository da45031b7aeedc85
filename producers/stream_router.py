"""DynamoDB stream record -> event envelope (pure).

Input is one record in the Lambda event shape (``eventName``, ``eventSourceARN``,
``dynamodb.{Keys,NewImage,OldImage,SequenceNumber,ApproximateCreationDateTime,
StreamViewType}``, optional ``userIdentity``). Output is an
:class:`~schemas.envelope.Envelope` whose images are envelope JSON
(:mod:`schemas.wire.json_values`: every DynamoDB value exactly) with secrets removed
(:func:`schemas.secrets.public_image`), or a :class:`~schemas.errors.PoisonRecordError`
that names the table, the item's key and the attribute at fault, for a record that can
never become one. Poison is that record's problem only: the handler dead-letters it and
routes the rest of its batch.

What a change needs: an INSERT needs its new image, a REMOVE its old one, a MODIFY both
(the counters subtract the old state). Tables are provisioned with
``NEW_AND_OLD_IMAGES``; a record from a stream of another view type is refused, saying so,
rather than miscounted.

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
from schemas.envelope import Action, Envelope, Source, event_id_for, partition_key
from schemas.errors import PoisonRecordError
from schemas.ids import id_problem
from schemas.secrets import public_image
from schemas.tables import EntitySpec, TableSpec
from schemas.wire.dynamodb import AttributeValueError
from schemas.wire.json_values import json_image

__all__ = ["REQUIRED_VIEW", "TTL_PRINCIPAL", "partition_key", "snapshot_envelope", "table_name_of", "to_envelope"]

TTL_PRINCIPAL = "dynamodb.amazonaws.com"
REQUIRED_VIEW = "NEW_AND_OLD_IMAGES"
_LOCAL_TTL_EVENT = "UNKNOWN_TO_SDK_VERSION"
_MAX_VERSION = 10**20

Resolver = Callable[[str], tuple[TableSpec, str]]


def to_envelope(record: Mapping[str, Any], resolve: Resolver = catalog.resolve) -> Envelope:
    """Map one stream record to its envelope.

    Raises:
        PoisonRecordError: unknown table or event name, an image the change needs is
            missing, an attribute DynamoDB would never send, an item without tenant or
            key, an id that would break a key layout, a bad ``version``.
    """
    ddb = record.get("dynamodb") or {}
    sequence = str(ddb.get("SequenceNumber") or "")
    if not sequence.isdigit():
        raise PoisonRecordError(f"stream record has no numeric dynamodb.SequenceNumber ({sequence[:40]!r})")
    table = table_name_of(record)
    spec, env = resolve(table)
    where = f"{table} {_key_text(ddb)}"
    new, old = _image(ddb, "NewImage", where), _image(ddb, "OldImage", where)
    action = _action(record, new, old)
    _check_images(ddb, action, new, old, where)
    image = new if new is not None else old
    assert image is not None  # _check_images refused a record without the image it needs
    entity, key, tenant = _identity(spec, image, table)
    where = f"{table} {key!r}"
    created = _approximate_time(ddb, where)
    return Envelope(
        event_id=event_id_for(str(record.get("eventSourceARN", "")), sequence),
        event_type=f"{entity.name}.{action.value}",
        tenant_id=tenant,
        entity=entity.name,
        key=key,
        version=_version(action, new, old, where),
        source=Source(table=spec.physical_name(env), sequence_number=sequence, approximate_creation_time=created),
        occurred_at=created or datetime.now(UTC),
        actor=_actor(action, image, record),
        before=_public(entity, old),
        after=None if action.removes else _public(entity, new),
    )


def snapshot_envelope(
    table: str,
    item: Mapping[str, Any],
    resolve: Resolver = catalog.resolve,
    *,
    sequence: str | None = None,
    removed: bool = False,
) -> Envelope:
    """The envelope of an item as a Scan found it (a backfill), by the router's own rules.

    The same identity, images, secret removal and id checks as :func:`to_envelope`; the
    event is ``{entity}.snapshot`` with order ``(version, sequence or 0)``: below every
    streamed change of that version unless a ``sequence`` is given (a repair that must
    outrank a drifted entry). ``removed`` makes it a ``deleted`` event of the item (a
    repair of an entry whose item no longer exists).

    Args:
        table: the physical table name.
        item: the item as an AttributeValue map (a Scan's ``Items`` entry).
    """
    spec, env = resolve(table)
    image = _image({"NewImage": item}, "NewImage", f"{table} (scan)")
    if image is None:
        raise PoisonRecordError(f"{table}: an empty item cannot be a snapshot")
    entity, key, tenant = _identity(spec, image, table)
    version = _version(Action.CREATED, image, None, f"{table} {key!r}")
    action = Action.DELETED if removed else Action.SNAPSHOT
    return Envelope(
        event_id=event_id_for(
            f"snapshot:{spec.physical_name(env)}", f"{key}\x1f{version}\x1f{sequence or 0}\x1f{action}"
        ),
        event_type=f"{entity.name}.{action.value}",
        tenant_id=tenant,
        entity=entity.name,
        key=key,
        version=version,
        source=Source(table=spec.physical_name(env), sequence_number=sequence),
        occurred_at=datetime.now(UTC),
        actor=None,
        before=_public(entity, image) if removed else None,
        after=None if removed else _public(entity, image),
    )


def _identity(spec: TableSpec, image: Mapping[str, Any], table: str) -> tuple[EntitySpec, str, str]:
    """(entity, key, tenant) of an image, refusing ids that would break a key layout."""
    entity = spec.entity_for(image)
    key = spec.key_of(image)
    tenant = spec.tenant_of(entity, image)
    for label, value in (("tenant", tenant), ("key", key)):
        problem = id_problem(value, key=label == "key")
        if problem:
            raise PoisonRecordError(f"{table} {key!r}: {label} {value[:80]!r} {problem}")
    return entity, key, tenant


def table_name_of(record: Mapping[str, Any]) -> str:
    """Table name from ``arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL``."""
    arn = str(record.get("eventSourceARN", ""))
    _, sep, rest = arn.partition(":table/")
    if not sep:
        raise PoisonRecordError(f"stream record has no table in eventSourceARN {arn!r}")
    return rest.split("/", 1)[0]


def _image(ddb: Mapping[str, Any], name: str, where: str) -> dict[str, Any] | None:
    raw = ddb.get(name)
    if not raw:
        return None
    try:
        return json_image(raw)
    except AttributeValueError as exc:
        raise PoisonRecordError(f"{where}: {name} {exc}") from None


def _key_text(ddb: Mapping[str, Any]) -> str:
    """The record's key for messages, best effort (the record may be malformed)."""
    keys = ddb.get("Keys")
    if not isinstance(keys, Mapping):
        return "(no Keys)"
    parts = []
    for name, attr in keys.items():
        value = next(iter(attr.values()), "?") if isinstance(attr, Mapping) and attr else "?"
        parts.append(f"{name}={str(value)[:80]}")
    return ", ".join(parts) or "(no Keys)"


def _check_images(ddb: Mapping[str, Any], action: Action, new: Any, old: Any, where: str) -> None:
    view = ddb.get("StreamViewType")
    if view is not None and view != REQUIRED_VIEW:
        raise PoisonRecordError(
            f"{where}: the table's stream is {view}; the router needs {REQUIRED_VIEW} "
            "(a change cannot be counted without both images): update the table's StreamSpecification"
        )
    needs = {
        Action.CREATED: ("NewImage",),
        Action.UPDATED: ("NewImage", "OldImage"),
        Action.SOFT_DELETED: ("NewImage", "OldImage"),
        Action.DELETED: ("OldImage",),
        Action.EXPIRED: ("OldImage",),
    }[action]
    missing = [name for name, image in (("NewImage", new), ("OldImage", old)) if name in needs and image is None]
    if missing:
        raise PoisonRecordError(
            f"{where}: a {action.value} change needs {' and '.join(needs)}; the record has no "
            f"{' or '.join(missing)} (is the stream {REQUIRED_VIEW}?)"
        )


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


def _version(action: Action, new: dict | None, old: dict | None, where: str) -> int:
    """The item's ``version`` attribute (0 when the writer keeps none); a removal keeps the
    removed item's version and outranks it by its later sequence number."""
    image = old if action.removes else new
    if image is None or "version" not in image:
        return 0
    stored = image["version"]
    if type(stored) is int and 0 <= stored < _MAX_VERSION:
        return stored
    raise PoisonRecordError(
        f"{where}: attribute version is {str(stored)[:60]!r}; it must be a whole number from 0 to {_MAX_VERSION - 1}"
    )


def _actor(action: Action, image: Mapping[str, Any], record: Mapping[str, Any]) -> str | None:
    if action is Action.EXPIRED:
        return TTL_PRINCIPAL
    if action is Action.SOFT_DELETED:
        return _text(image.get("deleted_by"))
    if action is Action.DELETED:
        return _text((record.get("userIdentity") or {}).get("principalId"))
    return _text(image.get("updated_by") or image.get("created_by"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _approximate_time(ddb: Mapping[str, Any], where: str) -> datetime | None:
    value = ddb.get("ApproximateCreationDateTime")
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    try:
        seconds = float(value)
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise PoisonRecordError(
            f"{where}: dynamodb.ApproximateCreationDateTime {str(value)[:40]!r} is not a time in epoch seconds"
        ) from None


def _public(entity: EntitySpec, image: dict | None) -> dict | None:
    return None if image is None else public_image(image, entity.secret)
