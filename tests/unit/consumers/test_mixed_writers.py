"""One ordering rule for every mix of writers: an item written first by a foreign writer that
keeps no ``version``, then by the repository (1, 2, ...), then by writers that change it without
bumping ``version``, ends in every projection as its last change, whatever the delivery order."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.projections import cache, search
from consumers.sinks.memory import InMemoryCacheSink
from consumers.sinks.search_embedded import EmbeddedSearchSink
from producers.stream_router import to_envelope
from schemas.wire.json_values import from_json
from tests.stream_records import stream_record

TABLE = "auxeira-startups-dev"
KEY = {"PK": "STARTUP#s1", "SK": "PROFILE", "tenant_id": "t1", "startup_id": "s1"}


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, dict | None, dict | None]]:
    """(event name, old image, new image) of one item's changes, in the order DynamoDB made them.

    Writers: ``foreign`` writes keep whatever ``version`` the item has (none at first);
    ``repository`` writes set version + 1; a delete may end the history.
    """
    item: dict | None = None
    changes = []
    for n in range(draw(st.integers(1, 8))):
        writer = draw(st.sampled_from(["foreign", "repository"]))
        new = {**(item or KEY), "company_name": f"name {n}"}
        if writer == "repository":
            new["version"] = int((item or {}).get("version", 0)) + 1
        changes.append(("INSERT" if item is None else "MODIFY", item, new))
        item = new
    if draw(st.booleans()):
        changes.append(("REMOVE", item, None))
    return changes


@settings(max_examples=200, deadline=None)
@given(history=histories(), data=st.data())
def test_any_mix_of_writers_delivered_in_any_order_ends_at_the_last_change(history, data) -> None:
    sequence = itertools.count(10**20)
    envelopes = [
        to_envelope(stream_record(TABLE, name, new=new, old=old, sequence=str(next(sequence))))
        for name, old, new in history
    ]
    # WHEN delivered shuffled, with duplicates
    order = data.draw(st.permutations(envelopes + data.draw(st.lists(st.sampled_from(envelopes), max_size=4))))
    memory, index = InMemoryCacheSink(), EmbeddedSearchSink(":memory:")
    for envelope in order:
        memory.apply(cache.project(envelope))
        index.apply(search.project(envelope))
    # THEN the cache and the index hold the item's last state (or its tombstone)
    last = history[-1][2]
    entry = memory.get(cache.cache_key("local", "t1", "startup", "STARTUP#s1|PROFILE"))
    doc = index.get("startups", "STARTUP#s1|PROFILE")
    if last is None:
        assert entry.tombstone and doc.deleted
    else:
        assert from_json(entry.state) == last
        assert doc.body["company_name"] == last["company_name"]
