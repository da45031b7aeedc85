"""History items: what the repository writes beside every versioned write (pure).

Table ``auxeira-history-{env}`` (no stream: history must not loop back through the
router, and the change itself already flows through the entity table's stream):

* ``PK = {entity}#{key}`` (``startup#STARTUP#s1|PROFILE``): one partition per item,
  so its history is one Query;
* ``SK = {generation}#v{version:010d}``: the generation is the item's ``created_at``,
  so an item hard-deleted and created again (versions restart at 1) starts a new run
  of entries after the old one instead of colliding with it; within a generation the
  zero-padded version sorts numerically.

Each entry describes the write that produced ``version``: ``action``, ``actor``,
``at``, ``changed`` (field names), ``before`` (the previous public image, absent for a
create) and ``after`` (new public values of the changed fields). Secret fields
(:attr:`EntitySpec.secret`) are dropped from both images; a changed secret is listed by
name only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.resources import HISTORY_TABLE
from schemas.secrets import public_image
from schemas.tables import EntitySpec, TableSpec
from schemas.wire.dynamodb import item_size, serialize_item

__all__ = [
    "HISTORY_ACTIONS",
    "HISTORY_TABLE",
    "LEGACY_GENERATION",
    "changed_fields",
    "history_item",
    "history_pk",
    "history_put",
    "history_sk",
]


HISTORY_ACTIONS = ("create", "update", "soft_delete", "delete")

#: Generation of items some other writer stored without ``created_at``.
LEGACY_GENERATION = "0000-00-00T00:00:00.000000Z"

#: Not part of ``changed``: they change on every write and the entry carries them
#: as ``version``, ``at`` and ``actor``.
_BOOKKEEPING = frozenset({"version", "created_at", "created_by", "updated_at", "updated_by"})

#: DynamoDB items are at most 400 KB; past this the redundant ``after`` values are
#: left out (they are the next entry's ``before``, or the live item).
_MAX_ENTRY_BYTES = 350_000


def history_pk(entity: str, key: str) -> str:
    return f"{entity}#{key}"


def history_sk(generation: str | None, version: int | None) -> str:
    return f"{generation or LEGACY_GENERATION}#v{version or 0:010d}"


def changed_fields(
    spec: EntitySpec, table: TableSpec, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[str]:
    """Top-level attributes whose value differs (bookkeeping and key attributes aside)."""
    before, after = before or {}, after or {}
    skip = _BOOKKEEPING | set(table.key_attrs)
    names = (set(before) | set(after)) - skip
    return sorted(n for n in names if before.get(n) != after.get(n))


def history_item(
    spec: EntitySpec,
    table: TableSpec,
    key: str,
    *,
    action: str,
    actor: str,
    at: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The history entry of one write, in plain values.

    Args:
        key: the item's stable key string.
        action: one of :data:`HISTORY_ACTIONS`.
        at: the write's timestamp (the repository's ``updated_at`` of that write).
        before: the stored item before the write (None for a create).
        after: the item the write stores (None for a hard delete).
    """
    if action not in HISTORY_ACTIONS:
        raise ValueError(f"unknown history action {action!r}")
    image = after if after is not None else before or {}
    version = (image.get("version") or 0) + (1 if after is None else 0)
    changed = changed_fields(spec, table, before, after)
    public_after = public_image(after or {}, spec.secret)
    item: dict[str, Any] = {
        "PK": history_pk(spec.name, key),
        "SK": history_sk(image.get("created_at"), version),
        "entity": spec.name,
        "key": key,
        "version": version,
        "action": action,
        "actor": actor,
        "at": at,
        "changed": changed,
        "after": {f: public_after[f] for f in changed if f in public_after},
    }
    tenant = image.get(spec.tenant_attr)
    if tenant is not None:
        item["tenant"] = str(tenant)  # erasure and tenant checks find entries by it
    if before is not None:
        item["before"] = public_image(before, spec.secret)
    if _size(item) > _MAX_ENTRY_BYTES:
        item["after"], item["after_omitted"] = {}, True
    return item


def history_put(table_name: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """The TransactWriteItems ``Put`` of an entry; it never overwrites an entry."""
    return {
        "Put": {
            "TableName": table_name,
            "Item": serialize_item(item),
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": "PK"},
        }
    }


def _size(item: Mapping[str, Any]) -> int:
    """The stored size as DynamoDB counts it (exact numbers of any width included)."""
    return item_size(item)
