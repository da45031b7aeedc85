"""The search projection: one envelope -> the index mutations it asks for. Pure, no I/O.

The index holds what users search for (see :mod:`schemas.search_fields`): one document
per live, not soft-deleted item of a searchable entity, with id = the item's key and
version = the envelope's version.

* created / updated / recorded / snapshot -> :class:`UpsertDoc` of the searchable fields;
* soft_deleted, deleted, expired -> :class:`DeleteDoc`; so is an update of an item
  that is still soft-deleted (its ``deleted_at`` is set), or a later update would
  bring a soft-deleted item back into search;
* an entity that is not searchable, or an action this projection does not know yet
  -> no mutation (an empty list: skipped and counted, never poison).

Mutations carry the envelope's order (:attr:`schemas.envelope.Envelope.order`) as their
version. A document is keyed by the item's key alone and carries its tenant, so an update
that moves an item to another tenant moves its document (every query filters by tenant).

Mutations carry the version so sinks can drop duplicates and stale arrivals; a delete
is kept as a versioned tombstone by every sink, so a late, older update cannot bring
the document back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from consumers.projections.mutations import MAX_VERSION
from schemas.envelope import Action, Envelope
from schemas.errors import PoisonRecordError
from schemas.search_fields import TENANT_FIELD, FieldKind, SearchEntity, by_entity

__all__ = ["DeleteDoc", "SearchMutation", "UpsertDoc", "document_body", "project"]


@dataclass(frozen=True, slots=True)
class UpsertDoc:
    """Index a document, unless a version >= ``version`` is already held for its id.

    Attributes:
        index: the index's short name (``startups``).
        doc_id: the entity key (``STARTUP#42|PROFILE``).
        version: the envelope's version (0 .. ``MAX_VERSION``).
        tenant: the tenant the document belongs to.
        body: the searchable fields plus ``tenant`` (see :func:`document_body`).
    """

    index: str
    doc_id: str
    version: int
    tenant: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class DeleteDoc:
    """Remove a document, leaving a tombstone that remembers ``version``."""

    index: str
    doc_id: str
    version: int
    tenant: str


SearchMutation: TypeAlias = UpsertDoc | DeleteDoc

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_UPSERTS = frozenset({Action.CREATED, Action.UPDATED, Action.RECORDED, Action.SNAPSHOT})
# Listed rather than derived from Action.removes: a soft delete removes from search
# although the item stays in its table, and a new Action member is skipped here until
# someone decides what search does with it.
_DELETES = frozenset({Action.SOFT_DELETED, Action.DELETED, Action.EXPIRED})


def project(envelope: Envelope) -> list[SearchMutation]:
    """The index mutations an envelope asks for: none, or one.

    Raises:
        PoisonRecordError: an upsert without an ``after`` image, an
            order beyond 60 digits, or a searchable field of the wrong type. The
            message names the event type and event id.
    """
    action = envelope.event_type.rpartition(".")[2]
    if action not in _UPSERTS and action not in _DELETES:
        return []
    spec = by_entity(envelope.entity)
    if spec is None:
        return []
    order = envelope.order
    if order > MAX_VERSION:
        raise _poison(envelope, f"order {order} has more than {len(str(MAX_VERSION))} digits")
    after = envelope.after
    if action in _DELETES or (after is not None and after.get("deleted_at")):
        return [DeleteDoc(spec.index, envelope.key, order, envelope.tenant_id)]
    if after is None:
        raise _poison(envelope, "has no after image to index")
    try:
        body = document_body(spec, envelope.tenant_id, after)
    except (TypeError, ValueError) as exc:
        raise _poison(envelope, str(exc)) from None
    return [UpsertDoc(spec.index, envelope.key, order, envelope.tenant_id, body)]


def document_body(spec: SearchEntity, tenant: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """The indexed document of an entity state: its searchable fields that have a value,
    and the tenant. Shared with the drift check, so both sides build it the same way.

    Raises:
        TypeError: a field's value does not fit its kind (both sinks must refuse it
            alike, and OpenSearch would refuse it with a mapping error).
    """
    body: dict[str, Any] = {TENANT_FIELD: tenant}
    for field in spec.fields:
        value = state.get(field.name)
        if value is None:
            continue
        if not _fits(field.kind, value):
            raise TypeError(f"field {field.name!r} is not {field.kind.value}: {value!r}")
        body[field.name] = value
    return body


def _fits(kind: FieldKind, value: Any) -> bool:
    if kind is FieldKind.INTEGER:
        # OpenSearch's ``integer`` is 32-bit; refusing here keeps the embedded sink alike.
        return isinstance(value, int) and not isinstance(value, bool) and _INT_MIN <= value <= _INT_MAX
    if kind is FieldKind.TAGS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


def _poison(envelope: Envelope, why: str) -> PoisonRecordError:
    return PoisonRecordError(f"search projection: event {envelope.event_id} ({envelope.event_type}): {why}")
