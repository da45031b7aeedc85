"""A scanned item becomes a snapshot envelope by the router's own rules, ordered below the stream."""

from __future__ import annotations

import pytest

from consumers.projections import cache, counters
from consumers.sinks.memory import InMemoryCacheSink
from producers.stream_router import snapshot_envelope, to_envelope
from schemas.errors import PoisonRecordError
from schemas.wire.dynamodb import serialize_item
from tests.factories import make_stored_item
from tests.stream_records import stream_record

TABLE = "auxeira-startups-dev"


def test_a_snapshot_has_the_streamed_identity_without_secrets_and_ranks_below_the_stream() -> None:
    item = make_stored_item("startup", 1, version=3)
    snap = snapshot_envelope(TABLE, serialize_item(item))
    live = to_envelope(stream_record(TABLE, "MODIFY", new=item, old=item, sequence="500"))
    assert (snap.event_type, snap.key, snap.tenant_id, snap.version) == ("startup.snapshot", live.key, "t1", 3)
    assert snap.after == live.after and "tax_id" not in str(snap.after)
    assert snap.order < live.order
    # a backfill during live traffic: the snapshot never overwrites the streamed state
    sink = InMemoryCacheSink()
    sink.apply(cache.project(live))
    assert sink.apply(cache.project(snap)) == ["stale"]
    # and the counters do not count a snapshot (it is not a change)
    assert counters.deltas(snap) == []


def test_a_repair_snapshot_outranks_the_entry_it_repairs_and_a_removal_is_a_delete() -> None:
    item = make_stored_item("startup", 1, version=3)
    repair = snapshot_envelope(TABLE, serialize_item(item), sequence="501")
    assert repair.order > to_envelope(stream_record(TABLE, "INSERT", new=item, sequence="500")).order
    gone = snapshot_envelope(TABLE, serialize_item(item), sequence="501", removed=True)
    assert gone.event_type == "startup.deleted" and gone.after is None
    assert (
        snapshot_envelope(TABLE, serialize_item(item)).event_id
        == snapshot_envelope(TABLE, serialize_item(item)).event_id
    )


def test_an_item_the_router_would_refuse_is_refused_alike() -> None:
    orphan = {k: v for k, v in make_stored_item("startup", 1).items() if k != "tenant_id"}
    with pytest.raises(PoisonRecordError, match="tenant attribute"):
        snapshot_envelope(TABLE, serialize_item(orphan))
