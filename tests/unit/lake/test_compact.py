"""``compact``: a partition's small files rewritten into few, not one row changed; a crash mid-way
is finished or undone by the next run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from auxeira.operations.lake import run_job
from auxeira.runtime.objects import LocalObjects
from glue_jobs import compaction
from glue_jobs.compaction import compact, compact_partition, recover
from glue_jobs.parquet_io import arrow_schema, partition_files, read_files
from glue_jobs.tables import curated_table
from tests.unit.lake.lake_data import KEY, archive_records, envelope, stream_of

DAY = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
STARTUP = curated_table("startup")


def hourly(lake: LocalObjects, hours: int, per_hour: int = 5) -> None:
    """``hours`` hourly runs, each curating the startups that arrived in its hour."""
    for h in range(hours):
        at = DAY + timedelta(hours=h)
        batch = [envelope(n=h * per_hour + i, at=at) for i in range(per_hour)]
        archive_records(lake, stream_of(batch, first=10_000 * (h + 1)))
        run_job("raw_to_curated", lake.root, engine="arrow", pii_key=KEY.decode())


def partition_rows(lake: LocalObjects, dt: str = "2026-01-05") -> list[bytes]:
    data = read_files(lake, partition_files(lake, STARTUP, dt), arrow_schema(STARTUP.columns))
    return sorted(orjson.dumps(r, default=str) for r in data.to_pylist())


def test_small_files_become_few_and_no_row_changes(objects):
    # GIVEN a day of hourly runs: a small file per run in the day's partition
    hourly(objects, 24)
    assert len(partition_files(objects, STARTUP, "2026-01-05")) == 24
    before = partition_rows(objects)
    # WHEN compacted (a small target size, so more than one file is needed)
    result = compact(objects, target_bytes=60_000)
    # THEN the partition is a few files holding exactly the same rows
    after = partition_files(objects, STARTUP, "2026-01-05")
    assert 1 <= len(after) <= 4 and result.rows == {"curated_startup": 120}
    assert partition_rows(objects) == before
    # AND compacting again changes nothing
    assert compact(objects, target_bytes=60_000).objects == 0
    assert partition_files(objects, STARTUP, "2026-01-05") == after


def test_with_the_default_target_a_partition_becomes_one_file(objects):
    hourly(objects, 6)
    before = partition_rows(objects)
    run_job("compact", objects.root, engine="arrow")
    assert len(partition_files(objects, STARTUP, "2026-01-05")) == 1
    assert partition_rows(objects) == before


class CrashAfter(LocalObjects):
    """A lake that dies (a BaseException, like a killed process) at its n-th write of a compacted file."""

    def __init__(self, root, at: int):
        super().__init__(root)
        self.at, self.writes = at, 0

    def put(self, key, body, content_type="application/json"):
        if "/compacted-" in key:
            self.writes += 1
            if self.writes == self.at:
                raise KeyboardInterrupt("killed")
        super().put(key, body, content_type)


def test_a_compaction_killed_while_writing_is_undone_and_redone_by_the_next_run(tmp_path):
    # GIVEN 12 small files, and a compaction killed while writing its first new file
    lake = CrashAfter(tmp_path.absolute(), 1)
    hourly(lake, 12)
    before = partition_rows(lake)
    with pytest.raises(KeyboardInterrupt):
        compact_partition(lake, STARTUP, "2026-01-05", target_bytes=150_000)
    # WHEN the next run recovers (its manifest says what to undo) and compacts again
    lake.at = 0
    assert recover(lake, STARTUP) == 1
    assert partition_rows(lake) == before and len(partition_files(lake, STARTUP, "2026-01-05")) == 12
    compact(lake, target_bytes=150_000)
    # THEN the rows are exactly those before, in few files, and no manifest is left
    assert partition_rows(lake) == before and len(partition_files(lake, STARTUP, "2026-01-05")) <= 4
    assert list(lake.list("_state/compact/")) == []


def test_a_compaction_killed_before_deleting_the_old_files_is_finished_by_the_next_run(objects, monkeypatch):
    # GIVEN new files written and the process killed before the old ones were deleted
    hourly(objects, 12)
    before = partition_rows(objects)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as patch:
        patch.setattr(compaction, "_finish", killed)
        with pytest.raises(KeyboardInterrupt):
            compact_partition(objects, STARTUP, "2026-01-05", target_bytes=150_000)
    # WHEN the next run recovers THEN it finishes the compaction: each row once, few files
    assert recover(objects, STARTUP) == 1
    assert partition_rows(objects) == before and len(partition_files(objects, STARTUP, "2026-01-05")) <= 4
