"""The source tables' part of an erasure: every write goes through the write path, so the
change carries a new version, its history entry and its stream event like any other, and
the cache, the search index and the counters apply it through the normal pipeline.

* an **owned** item: :meth:`Repository.delete` (history on: the entry records who
  deleted it; the erasure's history step removes the item's entries afterwards);
* a **shared** or **audit** item: read (consistently), :func:`schemas.erasure.scrubbed`,
  and write the difference: :meth:`Repository.update` for model fields, at the version
  read. ``created_by`` and ``deleted_by`` are fields the repository maintains and refuses
  to take from a caller; when one of them names the subject, the write is planned with
  the repository's own pieces instead (:func:`producers.write_plan.plan_update` validates
  the item, :func:`~producers.write_plan.update_expression` bumps ``version`` on the
  condition that it is still the one read, and
  :func:`~producers.conditional_write.send_write` stores it in one transaction with its
  :func:`~producers.history_items.history_item`): the same guarantees, one more field.

Each write is idempotent in effect: a delete of an item already gone is ``gone``, an
item already pseudonymized needs nothing (``clean``), and a lost race (someone wrote the
item meanwhile) is read again and retried. A run killed between a write and the save of
its plan does not lose what it wrote: the rerun finds the item gone (or clean), reads the
item's history entry written by this erasure (its actor is ``erasure:{request id}``, in
the same transaction as the write) and takes the outcome, the version and the time from
there (:func:`_written_before`), so the settle step still waits for that write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from auxeira.operations.erase_plan import PlannedItem
from producers.conditional_write import ConditionFailed, send_write
from producers.history_items import history_item, history_pk
from producers.repository import Repository
from producers.write_plan import AUDIT_FIELDS, plan_update, resolve_target, update_expression, version_of
from schemas import catalog
from schemas.erasure import Matcher, scrubbed
from schemas.errors import ConflictError, NotFoundError
from schemas.resources import HISTORY_TABLE
from schemas.tables import TableSpec
from schemas.wire.dynamodb import deserialize_item, format_timestamp, serialize_item, utc_now

__all__ = ["apply_item", "table_namer"]

_ATTEMPTS = 5
#: Audit fields the repository sets itself on every write (``updated_*``) are not these.
_KEPT_AUDIT = ("created_by", "deleted_by")


def apply_item(
    repo: Repository,
    client: Any,
    table_name: Callable[[TableSpec], str],
    item: PlannedItem,
    matcher: Matcher,
    *,
    actor: str,
) -> PlannedItem:
    """Apply one planned item; returns it with ``outcome``, ``written_version`` and ``written_at`` set."""
    for _ in range(_ATTEMPTS):
        try:
            if item.relation == "owned":
                done = _delete(repo, item, actor)
            else:
                done = _pseudonymize(repo, client, table_name, item, matcher, actor)
        except ConflictError:
            continue  # written meanwhile: read it again
        if done.outcome in ("gone", "clean") and done.written_version is None:
            _written_before(client, table_name, done, actor)
        return done
    raise ConflictError(item.entity, item.key, None, None)


def _written_before(client: Any, table_name: Callable[[TableSpec], str], item: PlannedItem, actor: str) -> None:
    """Take ``item``'s outcome from this erasure's own history entry, when an earlier run (killed
    before it saved the plan) wrote it: a delete's entry is at the removed version plus one."""
    args: dict[str, Any] = {
        "TableName": _history_table(table_name),
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": history_pk(item.entity, item.key)}},
        "ConsistentRead": True,
    }
    mine: list[dict[str, Any]] = []
    while True:
        page = client.query(**args)
        mine += [e for e in map(deserialize_item, page.get("Items", [])) if e.get("actor") == actor]
        if "LastEvaluatedKey" not in page:
            break
        args = {**args, "ExclusiveStartKey": page["LastEvaluatedKey"]}
    if not mine:
        return
    entry = max(mine, key=lambda e: int(e.get("version") or 0))
    deleted = entry.get("action") == "delete"
    item.outcome = "deleted" if deleted else "pseudonymized"
    item.written_version = int(entry["version"]) - (1 if deleted else 0)
    item.written_at = _epoch(str(entry.get("at", ""))) or time.time()


def _epoch(at: str) -> float | None:
    try:
        return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _delete(repo: Repository, item: PlannedItem, actor: str) -> PlannedItem:
    try:
        removed = repo.delete(item.entity, item.key, actor=actor)
    except NotFoundError:
        item.outcome = item.outcome or "gone"
        return item
    item.written_version, item.written_at, item.outcome = version_of(removed), time.time(), "deleted"
    return item


def _pseudonymize(
    repo: Repository,
    client: Any,
    table_name: Callable[[TableSpec], str],
    item: PlannedItem,
    matcher: Matcher,
    actor: str,
) -> PlannedItem:
    current = repo.get(item.entity, item.key)
    if current is None:
        item.outcome = item.outcome or "gone"
        return item
    spec = catalog.entity(item.entity)
    wanted = scrubbed(spec, current, matcher)
    fields = spec.model.model_fields
    changes = {f: wanted.get(f) for f in fields if f not in AUDIT_FIELDS and wanted.get(f) != current.get(f)}
    audit = {f: wanted[f] for f in _KEPT_AUDIT if f in wanted and wanted[f] != current.get(f)}
    stale_updater = wanted.get("updated_by") != current.get("updated_by")
    if not (changes or audit or stale_updater):
        item.outcome = item.outcome or "clean"
        return item
    expected = version_of(current)
    if audit:
        stored = _write_audit(client, table_name, item, current, changes, audit, actor)
    else:
        stored = repo.update(item.entity, item.key, changes, actor=actor, expected_version=expected)
    item.written_version, item.written_at, item.outcome = version_of(stored), time.time(), "pseudonymized"
    return item


def _write_audit(
    client: Any,
    table_name: Callable[[TableSpec], str],
    item: PlannedItem,
    current: dict[str, Any],
    changes: dict[str, Any],
    audit: dict[str, Any],
    actor: str,
) -> dict[str, Any]:
    """The update of :meth:`Repository.update` plus repository-kept audit fields (module docstring)."""
    target = resolve_target(item.entity, item.key, table_name)
    now = utc_now()
    plan = plan_update(target, current, changes, actor=actor, now=now)
    sets = {f: plan.image[f] for f in changes if f in plan.image}
    sets.update(updated_at=plan.image["updated_at"], updated_by=actor, **audit)
    removes = [f for f in changes if f not in plan.image]
    image = {**plan.image, **audit}
    params = {
        "TableName": target.table_name,
        "Key": serialize_item(target.key),
        **update_expression(sets, removes, plan.stored_version, target.table.hash_key),
    }
    entry = history_item(
        target.spec,
        target.table,
        target.key_str,
        action="update",
        actor=actor,
        at=str(image.get("updated_at") or format_timestamp(now)),
        before=current,
        after=image,
    )
    try:
        send_write(client, "Update", params, entry=entry, history_table=_history_table(table_name))
    except ConditionFailed:
        raise ConflictError(item.entity, item.key, plan.stored_version, None) from None
    return image


def _history_table(table_name: Callable[[TableSpec], str]) -> str:
    return table_name(HISTORY_TABLE)


def table_namer(env_name: str) -> Callable[[TableSpec], str]:
    """``TableSpec -> physical name`` of an environment (what the repository resolves)."""

    def name(spec: TableSpec) -> str:
        return spec.physical_name(env_name)

    return name
