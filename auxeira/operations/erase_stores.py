"""The stores the pipeline keeps beside the tables, once they applied the erasure's writes:
the cache's tombstones, the subject's counter items and the history table.

* **cache**: a delete leaves a tombstone under the item's key (``aux:{env}:{tenant}:
  user:USER#u1|PROFILE``), which names the subject for seven days. Once the cache applied
  the delete (:mod:`auxeira.operations.erase_settle`), every earlier change of that key was
  applied before it, so no live delivery can still need the tombstone; replays and
  redrives are kept out by the erasure ledger instead. Only tombstones are removed: a live
  entry under an erased key is something the erasure did not expect, and the final scan
  reports it.
* **search**: the same for the search index's tombstones (kept for good by both sinks): an
  erased item's document id (``CONVERSATION#c1|MESSAGE#...``) stays only as long as it
  guards something, and after the erasure nothing the live path delivers can need it.
* **counters**: the subject's own counter items (``{tenant}#USER#{id}``, its sessions
  count) are deleted once every contribution was taken back (all zero); a counter item
  that is not zero yet is left, and reported.
* **history**: every entry of an erased owned item is deleted (its partition key names the
  item); every other entry naming the subject (as actor, or in its ``before``/``after``
  images: a shared item's earlier versions, a startup the subject created) is rewritten
  with the images scrubbed (:func:`schemas.erasure.scrubbed`) and the actor pseudonymized.
  A parallel Scan finds them: the table is keyed by item, not by actor.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from auxeira.operations.environment import Environment
from auxeira.operations.erase_plan import ErasurePlan
from auxeira.operations.erase_settle import subject_counters
from consumers.projections.cache import cache_key
from consumers.projections.counter_items import item_key
from schemas import catalog
from schemas.erasure import Matcher, scrubbed
from schemas.resources import COUNTERS_TABLE, HISTORY_TABLE
from schemas.search_fields import by_entity
from schemas.wire.dynamodb import deserialize_item, serialize_item

__all__ = [
    "erase_cache_tombstones",
    "erase_history",
    "erase_search_tombstones",
    "erase_subject_counters",
    "history_entries",
]


def erase_cache_tombstones(env: Environment, plan: ErasurePlan, *, apply: bool = True) -> dict[str, int]:
    """Delete the tombstones of the erased owned items; ``{"tombstones": n, "live_left": n}``."""
    if not env.redis_url:
        return {"tombstones": 0, "live_left": 0}
    sink = env.sink("cache")
    removed = live = 0
    for item in plan.items:
        if item.relation != "owned":
            continue
        key = cache_key(env.name, item.tenant, item.entity, item.key)
        entry = sink.get(key)
        if entry is None:
            continue
        if not entry.tombstone:
            live += 1
            continue
        if not apply or sink.forget_tombstone(key):
            removed += 1
        else:  # written again since it was read: the final scan judges what it holds
            live += 1
    return {"tombstones": removed, "live_left": live}


def erase_search_tombstones(env: Environment, plan: ErasurePlan, *, apply: bool = True) -> dict[str, int]:
    """Delete the search tombstones of the erased owned items; ``{"tombstones": n, "live_left": n}``."""
    sink = env.sink("search")
    removed = live = 0
    for item in plan.items:
        spec = by_entity(item.entity)
        if item.relation != "owned" or spec is None:
            continue
        doc = sink.get(spec.index, item.key)
        if doc is None:
            continue
        if not doc.deleted:
            live += 1
            continue
        if not apply or sink.forget_tombstone(spec.index, item.key):
            removed += 1
        else:  # written again since it was read: the final scan judges what it holds
            live += 1
    return {"tombstones": removed, "live_left": live}


def erase_subject_counters(env: Environment, subject: str, *, apply: bool = True) -> dict[str, int]:
    """Delete the subject's own counter items that are all zero; ``{"items": n, "nonzero_left": n}``."""
    table = COUNTERS_TABLE.physical_name(env.name)
    removed = left = 0
    for found in subject_counters(env, subject):
        if found["nonzero"]:
            left += 1
            continue
        if apply:
            key = item_key(found["tenant_id"], found["parent_key"])
            env.dynamodb.delete_item(TableName=table, Key={"PK": {"S": key}})
        removed += 1
    return {"items": removed, "nonzero_left": left}


def history_entries(env: Environment, segments: int = 4) -> Iterator[dict[str, Any]]:
    """Every history entry (plain values), a parallel Scan."""
    table = HISTORY_TABLE.physical_name(env.name)

    def segment(n: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        args: dict[str, Any] = {"TableName": table, "Segment": n, "TotalSegments": segments}
        while True:
            page = env.dynamodb.scan(**args)
            items += [deserialize_item(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            args = {**args, "ExclusiveStartKey": page["LastEvaluatedKey"]}

    with ThreadPoolExecutor(max_workers=segments) as pool:
        for items in pool.map(segment, range(segments)):
            yield from items


def erase_history(
    env: Environment, plan: ErasurePlan, matcher: Matcher, *, apply: bool = True, segments: int = 4
) -> dict[str, int]:
    """Delete the erased items' entries, scrub every other entry naming the subject; counts of each."""
    table = HISTORY_TABLE.physical_name(env.name)
    owned = plan.owned_keys()
    deleted = rewritten = 0
    for entry in history_entries(env, segments):
        identity = (str(entry.get("entity")), str(entry.get("key")))
        if identity in owned:
            if apply:
                env.dynamodb.delete_item(TableName=table, Key=serialize_item({"PK": entry["PK"], "SK": entry["SK"]}))
            deleted += 1
            continue
        clean = scrubbed_entry(entry, matcher)
        if clean != entry:
            if apply:
                env.dynamodb.put_item(TableName=table, Item=serialize_item(clean))
            rewritten += 1
    return {"deleted": deleted, "rewritten": rewritten}


def scrubbed_entry(entry: dict[str, Any], matcher: Matcher) -> dict[str, Any]:
    """A history entry with the subject erased from its actor and images (its keys unchanged).

    ``after`` holds only the changed fields: a pii value in it is found by value, or (as
    the subject's id) by the whole image it belongs to, read with ``before``.
    """
    spec = catalog.ENTITIES.get(str(entry.get("entity")))
    out = dict(entry)
    if isinstance(out.get("actor"), str) and (p := matcher.pseudonym_for(out["actor"])):
        out["actor"] = p
    if spec is None:
        return out
    before = entry.get("before") if isinstance(entry.get("before"), dict) else None
    after = entry.get("after") if isinstance(entry.get("after"), dict) else None
    if before is not None:
        out["before"] = scrubbed(spec, before, matcher)
    if after is not None:
        whole = scrubbed(spec, {**(before or {}), **after}, matcher)
        out["after"] = {k: whole.get(k) for k in after if whole.get(k) is not None}
    return out
