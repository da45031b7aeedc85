"""The index's live documents, listed for the drift check by both search sinks."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.projections.search import DeleteDoc, UpsertDoc
from consumers.sinks.search_embedded import EmbeddedSearchSink
from consumers.sinks.search_opensearch import OpenSearchSink


def test_the_embedded_index_lists_live_documents_page_by_page_without_tombstones(monkeypatch):
    sink = EmbeddedSearchSink(":memory:")
    sink.apply(
        [UpsertDoc("startups", f"S{n}", n + 1, "t1", {"tenant": "t1", "company_name": f"c{n}"}) for n in range(2500)]
    )
    sink.apply([DeleteDoc("startups", "S7", 100, "t1")])
    listed = list(sink.live_docs("startups"))
    assert len(listed) == 2499 and ("S7", "t1", 8) not in listed and ("S8", "t1", 9) in listed
    assert list(sink.live_docs("users")) == []


def test_opensearch_lists_live_documents_with_a_scroll_of_tenants_and_orders(monkeypatch: pytest.MonkeyPatch):
    asked: dict[str, Any] = {}

    def scan(client: Any, **kwargs: Any) -> Any:
        asked.update(kwargs)
        yield {"_id": "S1", "_source": {"tenant": "t1", "order_key": "0" * 59 + "5"}}

    monkeypatch.setattr("opensearchpy.helpers.scan", scan)
    sink = OpenSearchSink(object(), env="prod")
    assert list(sink.live_docs("startups")) == [("S1", "t1", 5)]
    assert asked["index"] == "auxeira-prod-startups"
    assert asked["query"] == {"query": {"bool": {"must_not": [{"term": {"tombstone": True}}]}}}
