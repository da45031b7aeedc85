"""Old consumer, new producer: unknown fields, newer minor versions and new event types flow;
an unknown major version is refused saying why; a published event claiming a table entity is
refused (only the router speaks for tables)."""

from __future__ import annotations

import base64

import orjson
import pytest

from auxeira.runtime.bus import envelopes_of
from auxeira.runtime.dead_letters import LocalDeadLetters
from auxeira.runtime.observability import StatsObserver
from consumers.handlers import cache as cache_handler
from consumers.handlers import counters as counters_handler
from consumers.handlers import search as search_handler
from consumers.sinks.counters_memory import InMemoryCounterSink
from consumers.sinks.memory import InMemoryCacheSink
from consumers.sinks.search_embedded import EmbeddedSearchSink
from schemas.envelope import encode
from schemas.errors import PoisonRecordError
from tests.kinesis_records import envelope, kinesis_event, kinesis_record


def _newer(data: dict) -> bytes:
    """An envelope as a newer producer writes it: a field this code does not know, a newer minor."""
    return orjson.dumps(
        {**data, "schema_version": "1.7", "trace_id": "abc", "source": {**data["source"], "region": "x"}}
    )


def _consumers(tmp_path):
    stats = StatsObserver()
    letters = LocalDeadLetters(tmp_path)
    handlers = {
        "cache": cache_handler.build_handler(InMemoryCacheSink(), letters, observer=stats),
        "search": search_handler.build_handler(EmbeddedSearchSink(":memory:"), letters, observer=stats),
        "counters": counters_handler.build_handler(InMemoryCounterSink(), letters, observer=stats),
    }
    return handlers, stats, letters


def test_an_old_consumer_reads_a_new_producers_envelopes_and_skips_its_new_event_types(tmp_path):
    known = orjson.loads(encode(envelope("STARTUP#s1|PROFILE", 2)))
    new_type = orjson.loads(encode(envelope("X1", 1, "recorded", entity="investor_pitch_viewed")))
    new_action = orjson.loads(encode(envelope("STARTUP#s1|PROFILE", 3, "archived")))
    records = [kinesis_record(_newer(d)) for d in (known, new_type, new_action)]
    handlers, stats, letters = _consumers(tmp_path)
    for handle in handlers.values():
        assert handle(kinesis_event(*records), None) == {"batchItemFailures": []}
    # THEN nothing is dead-lettered; the known event applied, the two new ones are counted as skipped
    assert list(letters.list()) == []
    for name in ("cache", "search"):
        assert (stats.totals[name].applied, stats.totals[name].skipped, stats.totals[name].poison) == (1, 2, 0)
    assert stats.totals["counters"].poison == 0


def test_an_unknown_major_version_is_refused_with_its_reason():
    data = orjson.loads(encode(envelope("A", 1)))
    with pytest.raises(PoisonRecordError, match=r"schema version 2\.0 has major 2; this consumer reads major 1"):
        envelopes_of(orjson.dumps({**data, "schema_version": "2.0"}))


def test_an_envelope_written_before_minor_versions_still_reads():
    data = orjson.loads(encode(envelope("A", 1)))
    [read] = envelopes_of(orjson.dumps({**data, "schema_version": 1}))
    assert read.schema_version == "1.0"


def test_a_published_event_claiming_a_table_entity_is_refused(tmp_path):
    # GIVEN a service publishing "startup.recorded" at a huge version (it would freeze the cached startup)
    forged = envelope("STARTUP#s1|PROFILE", 10**19, "recorded").model_copy(
        update={"source": envelope("x", 1, "recorded", entity="page_view").source}
    )
    record = kinesis_record(forged)
    handlers, stats, letters = _consumers(tmp_path)
    handlers["cache"](kinesis_event(record, kinesis_record(envelope("STARTUP#s1|PROFILE", 2))), None)
    # THEN it is dead-lettered naming the trust boundary, and the real update applied
    [letter] = list(letters.list("cache"))
    assert "only the stream router speaks for a table's entities" in letter.message
    assert stats.totals["cache"].applied == 1
    assert base64.b64decode(letter.record["kinesis"]["data"])  # the payload is kept for inspection
