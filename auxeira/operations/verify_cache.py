"""Drift of the cache, found from both sides, a page at a time.

1. **Items to entries**: every scanned item's expected state against its cache entry,
   with the check's own per-item rule (:func:`consumers.verify.compare_cache`, one page
   of items per call): ``missing`` when there is no entry, ``stale`` for a tombstone,
   another version or another state.
2. **Entries to items**: every live entry of the environment's namespace (SCAN, never
   blocking Redis) whose item is gone, or now belongs to another tenant: ``extra``.
   Entries of published states (a startup's Stripe MRR, no table behind them) and
   tombstones are fine. Items are read back 100 keys a request.

With a sample, side 2 draws its entries from the namespace too, and checks the items of
those entries as side 1 would.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from auxeira.operations.verify_lookup import ItemLookup
from auxeira.operations.verify_report import Drift, ProjectionResult
from auxeira.operations.verify_scan import chunks, reservoir
from consumers.projections.cache import tenant_prefix
from consumers.sinks.cache_base import CacheSink
from consumers.verify import Expected, compare_cache
from schemas import catalog

__all__ = ["CacheCheck"]

_CHUNK = 100


class CacheCheck:
    """The cache's comparison; feed it pages (:meth:`add_items`), then :meth:`check_entries`."""

    projection = "cache"

    def __init__(self, sink: CacheSink, lookup: ItemLookup, *, sampled: bool = False):
        self.sink, self.lookup = sink, lookup
        self.result = ProjectionResult(self.projection, sampled=sampled)
        self._seen: set[str] = set()  # keys compared from side 1, only kept for a sample

    def add_items(self, table: str, expected: list[Expected]) -> None:
        """Side 1 for one page of one table's expected states."""
        self.result.items_checked += len(expected)
        if self.result.sampled:
            self._seen.update(e.cache_key(self.sink.namespace) for e in expected)
        by_key = {e.cache_key(self.sink.namespace): e for e in expected}
        for mismatch in compare_cache(expected, self.sink, ()):
            exp = by_key[mismatch.key]
            entry = self.sink.get(mismatch.key)
            kind = "missing" if entry is None else "stale"
            self.result.drifts.append(
                Drift(
                    self.projection, kind, mismatch.key, mismatch.reason, table, exp.key, exp.tenant, exp.entity,
                    None if entry is None else entry.version,
                )
            )  # fmt: skip

    def check_entries(self, sample: int | None = None, rng: random.Random | None = None) -> None:
        """Side 2: every live entry (or ``sample`` of them) with no item of its tenant behind it,
        streamed a hundred keys at a time."""
        entries: Iterator[tuple[str, str, str, str]] = self._entries()
        if sample is not None:
            entries = iter(reservoir(entries, sample, rng or random.Random()))
        for chunk in chunks(entries, _CHUNK):
            by_entity: dict[str, list[tuple[str, str, str]]] = {}
            for key, tenant, entity, item_key in chunk:
                by_entity.setdefault(entity, []).append((key, tenant, item_key))
            for entity, group in by_entity.items():
                self._check_chunk(entity, group)

    def recheck(self, drift: Drift) -> bool:
        """Whether ``drift`` is still there (after a repair)."""
        assert drift.entity is not None and drift.item_key is not None
        exp = self.lookup.expected(drift.entity, [drift.item_key]).get(drift.item_key)
        if exp is None or exp.tenant != drift.tenant:
            entry = self.sink.get(drift.key)
            return entry is not None and not entry.tombstone
        return bool(compare_cache([exp], self.sink, ()))

    def _entries(self) -> Iterator[tuple[str, str, str, str]]:
        """``(cache key, tenant, entity, item key)`` of every table entity's key in the namespace."""
        prefix = tenant_prefix(self.sink.namespace, None)
        for key in self.sink.scan_keys(None):
            tenant, _, rest = key[len(prefix) :].partition(":")
            entity, sep, item_key = rest.partition(":")
            if sep and entity in catalog.ENTITIES:  # not the epoch marker, not a published state
                yield key, tenant, entity, item_key

    def _check_chunk(self, entity: str, entries: list[tuple[str, str, str]]) -> None:
        live = []
        for key, tenant, item_key in entries:
            entry = self.sink.get(key)
            self.result.entries_checked += 1
            if entry is not None and not entry.tombstone:
                live.append((key, tenant, item_key, entry.version))
        if not live:
            return
        expected = self.lookup.expected(entity, [item_key for _, _, item_key, _ in live])
        table = self.lookup.table_of(entity)[1]
        for key, tenant, item_key, order in live:
            exp = expected.get(item_key)
            if exp is None or exp.tenant != tenant:
                why = (
                    "cached but not in any table"
                    if exp is None
                    else f"cached for tenant {tenant!r}, the item is {exp.tenant!r}'s"
                )
                self.result.drifts.append(
                    Drift(self.projection, "extra", key, why, table, item_key, tenant, entity, order)
                )
            elif self.result.sampled and key not in self._seen:
                self.add_items(table, [exp])
