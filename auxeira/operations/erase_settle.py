"""Waiting for the pipeline to carry an erasure's own writes to every store that holds copies.

The erasure writes only the source tables; the router and the consumers take the deletes
and the pseudonymized versions to the cache, the search index, the counters and the raw
archive. The cleanups after that (tombstones, the user's counter items, the lake's rewrite)
are only right once those stores have applied every write, or the archiver would land the
delete's ``before`` image (the subject's profile) after the lake was cleaned. So, per
written item, :func:`pending` asks each store whether it reached the write:

* **cache**: the entry's order is at least the write's version (a delete: a tombstone at
  the removed version, or no entry);
* **search** (searchable entities): the same, by document id;
* **counters**: the subject's own counter items (``{tenant}#USER#{id}``) are all zero,
  every contribution taken back;
* **archive** (when the lake has a raw archive): an envelope of the item at the write's
  version is in an hour folder since the writes began.

A subject's counter that stays above zero while everything else has settled means an item
of the subject the plan does not hold (written during the erasure): :func:`settle` asks for
the tables to be searched again rather than wait for a zero that will not come.

:func:`settle` polls until nothing is pending or the wait ends, calling ``pump`` between
polls (the tests drive a local pipeline there; deployed, the Lambdas run by themselves).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from auxeira.operations.environment import Environment
from auxeira.operations.erase_plan import ErasurePlan, PlannedItem
from consumers.projections.cache import cache_key
from consumers.sinks.archive_layout import hour_prefix, payload_of
from schemas.envelope import version_of_order
from schemas.erasure import SUBJECT_PREFIX
from schemas.resources import LAKE
from schemas.search_fields import by_entity

__all__ = ["Pending", "pending", "settle", "subject_counters"]

_VERSION_PREFIX = "ver#"
#: Polls with only the subject's counters pending before the tables are searched again, then between searches.
_RECHECK_AFTER, _RECHECK_EVERY = 3, 10


@dataclass
class Pending:
    """What has not reached each store yet: ``store -> ["entity key", ...]``.

    ``replanned``: the wait stopped because ``recheck`` took new items into the plan.
    """

    stores: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    replanned: bool = False

    @property
    def empty(self) -> bool:
        return not any(self.stores.values())

    def count(self) -> dict[str, int]:
        return {store: len(items) for store, items in self.stores.items() if items}


def written(plan: ErasurePlan) -> list[PlannedItem]:
    return [i for i in plan.items if i.written_version is not None]


def pending(env: Environment, plan: ErasurePlan, subject: str) -> Pending:
    """Every store's items that have not applied the erasure's writes yet (module docstring)."""
    items = written(plan)
    out = Pending()
    if env.redis_url:
        out.stores["cache"] = [_label(i) for i in items if not _cache_done(env, i)]
    else:
        out.notes.append("no Redis configured: the cache was not waited for")
    out.stores["search"] = [_label(i) for i in items if by_entity(i.entity) and not _search_done(env, i)]
    out.stores["counters"] = [f"counters {c['tenant_id']}" for c in subject_counters(env, subject) if c["nonzero"]]
    if any(True for _ in env.objects.list(f"{LAKE.raw}/")):
        out.stores["archive"] = [_label(i) for i in _not_archived(env, items)]
    else:
        out.notes.append("the lake holds no raw archive: the archiver was not waited for")
    return out


def settle(
    env: Environment,
    plan: ErasurePlan,
    subject: str,
    *,
    wait_seconds: float,
    pump: Callable[[], None] | None = None,
    poll_seconds: float = 2.0,
    recheck: Callable[[], int] | None = None,
) -> Pending:
    """Poll :func:`pending` until nothing is, or ``wait_seconds`` passed; returns the last answer.

    When only the subject's counters are pending for a while, every write of the plan has
    been applied and yet a count of the subject is not zero: an item of theirs written after
    the plan (a login during the erasure) counts there. ``recheck`` then searches the tables
    again (after :data:`_RECHECK_AFTER` such polls, then every :data:`_RECHECK_EVERY`); when it
    took new items (it returns how many) into the plan, the wait stops with ``replanned`` set.
    """
    deadline = time.monotonic() + wait_seconds
    stuck = 0
    while True:
        left = pending(env, plan, subject)
        if left.empty or time.monotonic() >= deadline:
            return left
        stuck = stuck + 1 if set(left.count()) == {"counters"} else 0
        due = stuck >= _RECHECK_AFTER and (stuck - _RECHECK_AFTER) % _RECHECK_EVERY == 0
        if recheck is not None and due and recheck():
            left.replanned = True
            return left
        if pump is not None:
            pump()
        else:
            time.sleep(poll_seconds)


def subject_counters(env: Environment, subject: str) -> list[dict[str, Any]]:
    """The subject's own counter items in every tenant: tenant, primary key and whether a count is not zero."""
    sink = env.sink("counters")
    out = []
    for item in sink.find(f"{SUBJECT_PREFIX}{subject}"):
        counts = [v for k, v in item.values.items() if not k.startswith(_VERSION_PREFIX) and isinstance(v, int)]
        out.append({"tenant_id": item.tenant, "parent_key": item.parent_key, "nonzero": any(counts)})
    return out


def _label(item: PlannedItem) -> str:
    return f"{item.entity} {item.key}"


def _cache_done(env: Environment, item: PlannedItem) -> bool:
    entry = env.sink("cache").get(cache_key(env.name, item.tenant, item.entity, item.key))
    assert item.written_version is not None
    if item.relation == "owned":
        return entry is None or (entry.tombstone and version_of_order(entry.version) >= item.written_version)
    return entry is not None and version_of_order(entry.version) >= item.written_version


def _search_done(env: Environment, item: PlannedItem) -> bool:
    spec = by_entity(item.entity)
    assert spec is not None and item.written_version is not None
    doc = env.sink("search").get(spec.index, item.key)
    if item.relation == "owned":
        return doc is None or (doc.deleted and version_of_order(doc.version) >= item.written_version)
    return doc is not None and version_of_order(doc.version) >= item.written_version


def _not_archived(env: Environment, items: Iterable[PlannedItem]) -> list[PlannedItem]:
    """The written items no archived envelope of, at the written version, was found for."""
    waiting = {(i.entity, i.key): i for i in items}
    if not waiting:
        return []
    since = min(i.written_at or time.time() for i in waiting.values()) - 3600
    needles = [k.encode() for _, k in waiting]
    for key in _hour_objects(env, since):
        body = gzip.decompress(env.objects.get(key))
        if not any(n in body for n in needles):
            continue
        for line in body.splitlines():
            if not line.strip():
                continue
            doc = orjson.loads(payload_of(line))
            found = waiting.get((str(doc.get("entity")), str(doc.get("key"))))
            if found is not None and int(doc.get("version", -1)) >= (found.written_version or 0):
                waiting.pop((found.entity, found.key))
        if not waiting:
            break
    return list(waiting.values())


def _hour_objects(env: Environment, since: float) -> list[str]:
    hour = datetime.fromtimestamp(since, UTC).replace(minute=0, second=0, microsecond=0)
    now = datetime.now(UTC)
    keys: list[str] = []
    while hour <= now + timedelta(hours=1):
        keys += [k for k in env.objects.list(hour_prefix(hour.timestamp())) if k.endswith(".jsonl.gz")]
        hour += timedelta(hours=1)
    return keys
