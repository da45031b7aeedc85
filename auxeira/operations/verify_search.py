"""Drift of the search index, found from both sides, a page at a time.

1. **Items to documents**: the documents the scanned items should give (the search
   projection's own rule, :func:`consumers.verify_search.expected_search_docs`) against
   the index, with the check's per-document rule
   (:func:`consumers.verify_search.compare_search`, one page per call): ``missing`` when
   there is none, ``stale`` for a tombstone, another version, tenant or body.
2. **Documents to items**: every live document of every index (a page of ids at a
   time) whose item is gone or soft-deleted: ``extra``. A document whose item lives
   under another tenant is side 1's ``stale``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from auxeira.operations.verify_lookup import ItemLookup
from auxeira.operations.verify_report import Drift, ProjectionResult
from auxeira.operations.verify_scan import chunks, reservoir
from consumers.verify import Expected
from consumers.verify_search import compare_search, expected_search_docs
from schemas import catalog
from schemas.search_fields import SEARCH_ENTITIES, search_entity

__all__ = ["SearchCheck", "doc_label"]

_CHUNK = 100


def doc_label(index: str, doc_id: str) -> str:
    """How a document is named in a drift (as :class:`consumers.verify_search.ExpectedDoc` names it)."""
    return f"search:{index}/{doc_id}"


class SearchCheck:
    """The index's comparison; feed it pages (:meth:`add_items`), then :meth:`check_entries`."""

    projection = "search"

    def __init__(self, sink: Any, lookup: ItemLookup, *, sampled: bool = False):
        self.sink, self.lookup = sink, lookup
        self.result = ProjectionResult(self.projection, sampled=sampled)
        self._seen: set[str] = set()  # labels compared from side 1, only kept for a sample

    def add_items(self, table: str, expected: list[Expected]) -> None:
        """Side 1 for one page of one table's expected states."""
        self.result.items_checked += len(expected)
        docs = expected_search_docs(expected)
        if not docs:
            return
        if self.result.sampled:
            self._seen.update(d.label for d in docs)
        by_label = {d.label: d for d in docs}
        tenants = {(e.entity, e.key): e.tenant for e in expected}
        for mismatch in compare_search(docs, self.sink, (), probe=False):
            doc = by_label[mismatch.key]
            stored = self.sink.get(doc.index, doc.doc_id)
            entity = search_entity(doc.index).entity
            self.result.drifts.append(
                Drift(
                    self.projection, "missing" if stored is None else "stale", mismatch.key, mismatch.reason,
                    table, doc.doc_id, tenants.get((entity, doc.doc_id), doc.tenant), entity,
                    None if stored is None else stored.version,
                )
            )  # fmt: skip

    def check_entries(self, sample: int | None = None, rng: random.Random | None = None) -> None:
        """Side 2: every live document (or ``sample`` of them) whose item is gone or soft-deleted."""
        docs: Iterator[tuple[str, str, str, int]] = self._documents()
        if sample is not None:
            docs = iter(reservoir(docs, sample, rng or random.Random()))
        for chunk in chunks(docs, _CHUNK):
            by_entity: dict[str, list[tuple[str, str, str, int]]] = {}
            for doc in chunk:
                by_entity.setdefault(search_entity(doc[0]).entity, []).append(doc)
            for entity, group in by_entity.items():
                self._check_chunk(entity, group)

    def recheck(self, drift: Drift) -> bool:
        """Whether ``drift`` is still there (after a repair)."""
        assert drift.entity is not None and drift.item_key is not None
        exp = self.lookup.expected(drift.entity, [drift.item_key]).get(drift.item_key)
        docs = expected_search_docs([exp]) if exp is not None else []
        if not docs:  # no document should exist
            index = drift.key.removeprefix("search:").partition("/")[0]
            stored = self.sink.get(index, drift.item_key)
            return stored is not None and not stored.deleted
        return bool(compare_search(docs, self.sink, (), probe=False))

    def _documents(self) -> Iterator[tuple[str, str, str, int]]:
        """``(index, doc id, tenant, order)`` of every live document of a table entity's index."""
        for spec in SEARCH_ENTITIES:
            if spec.entity in catalog.ENTITIES:  # published occurrences have no table to compare with
                for doc_id, tenant, order in self.sink.live_docs(spec.index):
                    yield spec.index, doc_id, tenant, order

    def _check_chunk(self, entity: str, docs: list[tuple[str, str, str, int]]) -> None:
        self.result.entries_checked += len(docs)
        expected = self.lookup.expected(entity, [doc_id for _, doc_id, _, _ in docs])
        table = self.lookup.table_of(entity)[1]
        for index, doc_id, tenant, order in docs:
            exp = expected.get(doc_id)
            label = doc_label(index, doc_id)
            if exp is None or exp.state.get("deleted_at"):
                why = "indexed but not in any table" if exp is None else "indexed but the item is soft-deleted"
                self.result.drifts.append(
                    Drift(self.projection, "extra", label, why, table, doc_id, tenant, entity, order)
                )
            elif self.result.sampled and label not in self._seen:
                self.add_items(table, [exp])
