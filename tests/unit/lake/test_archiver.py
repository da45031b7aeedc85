"""The raw archive: every record exactly once, however the stream is cut and redelivered."""

from __future__ import annotations

import gzip
import itertools
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from auxeira.runtime.dead_letters import DeadLetterStore
from auxeira.runtime.objects import LocalObjects
from consumers.handlers.archiver import build_handler
from consumers.sinks.archive import ArchiveSink
from consumers.sinks.archive_layout import parse_object_name, payload_of
from glue_jobs import raw_format
from schemas.envelope import decode, encode
from tests.unit.lake.lake_data import archive_records, envelope, kinesis_record, stream_of


def snapshot(lake: LocalObjects) -> dict[str, bytes]:
    return {key: lake.get(key) for key in lake.list("raw/")}


def archived_lines(lake: LocalObjects) -> list[bytes]:
    return [line for key in lake.list("raw/") for line in gzip.decompress(lake.get(key)).splitlines()]


def sequences(lake: LocalObjects) -> Counter[str]:
    return Counter(orjson.loads(line)["seq"] for line in archived_lines(lake))


@pytest.fixture
def records() -> list[dict]:
    """40 records of one shard, sequence numbers 5000..5039, spread over two arrival hours."""
    hours = [datetime(2026, 1, 5, 10, 59, tzinfo=UTC), datetime(2026, 1, 5, 11, 0, 1, tzinfo=UTC)]
    return stream_of([envelope(n=n, at=hours[n // 20]) for n in range(40)])


def test_a_redelivered_batch_adds_nothing(tmp_path, records):
    # GIVEN a stream archived once in batches of 10
    lake = LocalObjects(tmp_path)
    archive_records(lake, records, batch=10)
    first = snapshot(lake)
    # WHEN every batch is delivered again
    archive_records(lake, records, batch=10)
    # THEN the same objects hold the same bytes, every record once
    assert snapshot(lake) == first
    assert set(sequences(lake).values()) == {1} and len(sequences(lake)) == 40


@pytest.mark.parametrize("cuts", [(7,), (3, 11, 40), (25,), (1,)])
def test_a_differently_split_redelivery_never_holds_a_record_twice(tmp_path, records, cuts):
    # GIVEN the stream archived in batches of 10
    lake = LocalObjects(tmp_path)
    archive_records(lake, records, batch=10)
    before = sorted(archived_lines(lake))
    # WHEN it is delivered again cut elsewhere (smaller, larger, overlapping batches)
    for size in cuts:
        archive_records(lake, records[3:], batch=size)
    # THEN the lines are those of one delivery, and no two objects of a shard overlap
    assert sorted(archived_lines(lake)) == before
    ranges = sorted((r.first, r.last) for r in map(parse_object_name, lake.list("raw/")) if r is not None)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))


def test_a_window_replayed_three_times_leaves_the_same_objects_and_rows(tmp_path, records):
    # GIVEN the whole stream archived live, in batches of 8
    lake = LocalObjects(tmp_path)
    archive_records(lake, records, batch=8)
    first = snapshot(lake)
    # WHEN a window in its middle is replayed three times, each cut differently
    for size in (5, 13, 40):
        archive_records(lake, records[12:30], batch=size)
    # THEN nothing changed
    assert snapshot(lake) == first


def test_a_lost_archive_replayed_three_times_is_written_once(tmp_path, records):
    # GIVEN an empty archive, WHEN one window is replayed into it three times, cut differently
    lake = LocalObjects(tmp_path)
    for size in (6, 40, 9):
        archive_records(lake, records[5:35], batch=size)
    # THEN each of its records is held once, and a fourth replay changes nothing
    assert sequences(lake) == Counter({str(5000 + n): 1 for n in range(5, 35)})
    kept = snapshot(lake)
    archive_records(lake, records[5:35], batch=4)
    assert snapshot(lake) == kept


def test_objects_are_named_by_stream_shard_and_sequence_range_under_the_arrival_hour(tmp_path):
    # GIVEN records that occurred on the 1st and arrived on the 3rd, late at night, and just after midnight
    lake = LocalObjects(tmp_path)
    occurred = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    late = datetime(2026, 1, 3, 23, 59, 59, tzinfo=UTC).timestamp()
    payloads = [encode(envelope(n=n, at=occurred)) for n in range(3)]
    batch = [kinesis_record(payloads[0], 700, late), kinesis_record(payloads[1], 701, late)]
    batch.append(kinesis_record(payloads[2], 702, late + 2))
    archive_records(lake, batch)
    # THEN placement is by Kinesis arrival time, names by stream, shard and first/last sequence
    assert list(lake.list("raw/")) == [
        "raw/events/dt=2026-01-03/hour=23/auxeira-events-t-shardId-000000000000-700-701.jsonl.gz",
        "raw/events/dt=2026-01-04/hour=00/auxeira-events-t-shardId-000000000000-702-702.jsonl.gz",
    ]


def test_the_archive_keeps_the_envelope_bytes_and_fields_it_does_not_know(tmp_path):
    # GIVEN an envelope with a field no model knows, as a newer producer would send it
    lake = LocalObjects(tmp_path)
    body = orjson.loads(encode(envelope()))
    body["x_new_field"] = {"nested": [1, 2.5, "three"]}
    payload = orjson.dumps(body)
    archive_records(lake, [kinesis_record(payload, 42, 1767600000.5)])
    # THEN the archived line holds exactly those bytes, read back alike by the archiver's and the jobs' code
    [line] = archived_lines(lake)
    assert payload_of(line) == raw_format.payload(line) == payload
    assert orjson.loads(line)["data"]["x_new_field"] == {"nested": [1, 2.5, "three"]}
    assert decode(raw_format.payload(line)).event_id == body["event_id"]
    # AND the jobs see the same folder the archiver chose
    [key] = lake.list("raw/")
    assert raw_format.day_of(key) == datetime(2026, 1, 5, tzinfo=UTC).date()


class FailingPuts(LocalObjects):
    """A lake whose ``put`` fails once, at its ``fail_at``-th call."""

    def __init__(self, root, fail_at: int):
        super().__init__(root)
        self.calls, self.fail_at = 0, fail_at

    def put(self, key, body, content_type="application/json"):
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError("disk on fire")
        super().put(key, body, content_type)


@pytest.mark.parametrize("fail_at", [1, 2])
def test_a_failed_put_is_redelivered_from_the_failure_and_converges(tmp_path, records, fail_at):
    # GIVEN a batch spanning two arrival hours (two puts) and a store failing at its k-th put
    lake = FailingPuts(tmp_path / "a", fail_at)
    handle = build_handler(ArchiveSink(lake), DeadLetterStore(lake), clock=lambda: 0.0)
    batch = records[10:30]
    # WHEN Lambda delivers it: the first put failing fails every record (the function
    # errors and the batch is retried whole); the second fails only the later hour's
    try:
        failed = handle({"Records": batch}, None)["batchItemFailures"]
    except BatchProcessingError:
        failed = [{"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in batch]
    ids = {f["itemIdentifier"] for f in failed}
    lowest = min(i for i, r in enumerate(batch) if r["kinesis"]["sequenceNumber"] in ids)
    assert lowest == (0 if fail_at == 1 else 10)
    # AND redelivers from the lowest failed record
    assert handle({"Records": batch[lowest:]}, None) == {"batchItemFailures": []}
    # THEN the archive equals one delivered without failure
    clean = LocalObjects(tmp_path / "b")
    archive_records(clean, batch, batch=20)
    assert sorted(archived_lines(lake)) == sorted(archived_lines(clean))
    assert set(sequences(lake).values()) == {1}
