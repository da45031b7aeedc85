"""Drift check of the search index against the tables.

The expected side starts from :func:`consumers.verify.expected_states` (every item's
public state, from a scan of the tables) and applies the search projection's own rule
(:func:`consumers.projections.search.document_body`): a searchable item that is not
soft-deleted should be one live document with the item's version and body. Then:

1. every expected document is in the index, live, with that tenant, version and body;
2. each tenant has exactly as many live documents per index as expected (so nothing
   deleted, soft-deleted or expired lingers);
3. per tenant and index, searching one document's title finds it (the text index,
   not only the stored rows, is right).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from consumers.projections.search import document_body
from consumers.sinks.search_base import MAX_LIMIT, SearchSink
from consumers.verify import Expected, Mismatch
from schemas.envelope import version_of_order
from schemas.search_fields import SEARCH_ENTITIES, by_entity, search_entity

__all__ = ["ExpectedDoc", "compare_search", "expected_search_docs", "search_doc_counts"]


@dataclass(frozen=True)
class ExpectedDoc:
    """A document the index should hold."""

    index: str
    doc_id: str
    tenant: str
    version: int | None
    body: dict[str, Any]

    @property
    def label(self) -> str:
        return f"search:{self.index}/{self.doc_id}"


def expected_search_docs(expected: Iterable[Expected]) -> list[ExpectedDoc]:
    """The documents the tables' states project to (others are not searchable, or
    soft-deleted, or invalid for the index and dead-lettered by the consumer)."""
    docs: list[ExpectedDoc] = []
    for exp in expected:
        spec = by_entity(exp.entity)
        if spec is None or exp.state.get("deleted_at"):
            continue
        try:
            body = document_body(spec, exp.tenant, exp.state)
        except TypeError:
            continue
        docs.append(ExpectedDoc(spec.index, exp.key, exp.tenant, exp.version, body))
    return docs


def search_doc_counts(docs: Iterable[ExpectedDoc]) -> dict[str, int]:
    """Expected live documents per index (for a demo summary)."""
    counts = {s.index: 0 for s in SEARCH_ENTITIES}
    for doc in docs:
        counts[doc.index] += 1
    return counts


def compare_search(
    docs: Iterable[ExpectedDoc], sink: SearchSink, tenants: Iterable[str], *, probe: bool = True
) -> list[Mismatch]:
    """Every difference between the expected documents and the index, for these tenants.

    Args:
        probe: also search each tenant's index for one document's title.
    """
    sink.refresh()
    mismatches: list[Mismatch] = []
    by_group: dict[tuple[str, str], list[ExpectedDoc]] = defaultdict(list)
    sound: dict[tuple[str, str], list[ExpectedDoc]] = defaultdict(list)  # stored as expected
    for doc in docs:
        by_group[(doc.tenant, doc.index)].append(doc)
        reason = _doc_difference(doc, sink)
        if reason:
            mismatches.append(Mismatch(doc.label, reason))
        else:
            sound[(doc.tenant, doc.index)].append(doc)
    for tenant in tenants:
        for spec in SEARCH_ENTITIES:
            wanted = len(by_group.get((tenant, spec.index), []))
            held = sink.count(tenant, spec.index)
            if held != wanted:
                mismatches.append(
                    Mismatch(f"search:{spec.index}@{tenant}", f"{held} live documents, the tables give {wanted}")
                )
            # Probe a document whose row is right, so the probe tests only the text index.
            if probe and sound.get((tenant, spec.index)):
                mismatches += _probe(sound[(tenant, spec.index)][0], sink)
    return mismatches


def _doc_difference(doc: ExpectedDoc, sink: SearchSink) -> str | None:
    stored = sink.get(doc.index, doc.doc_id)
    if stored is None:
        return "missing from the index"
    version = version_of_order(stored.version)
    if stored.deleted:
        return f"tombstone v{version} but the item exists"
    if stored.tenant != doc.tenant:
        return f"indexed for tenant {stored.tenant!r}, the item is {doc.tenant!r}'s"
    if doc.version is not None and version != doc.version:
        return f"index has v{version}, table has v{doc.version}"
    if dict(stored.body or {}) != doc.body:
        return "body differs from the table"
    return None


def _probe(doc: ExpectedDoc, sink: SearchSink) -> list[Mismatch]:
    title = doc.body.get(search_entity(doc.index).title_field)
    if not isinstance(title, str) or not title.strip():
        return []
    hits = sink.search(title, doc.tenant, doc.index, limit=MAX_LIMIT)
    if any(h.doc_id == doc.doc_id for h in hits):
        return []
    return [Mismatch(doc.label, f"searching its title {title!r} does not find it")]
