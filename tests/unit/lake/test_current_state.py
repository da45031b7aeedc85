"""``current_state``: the latest version per key, removals gone, soft deletes flagged, moved items
in their new place only, published atomically; equal to a scan of the tables (drift 0)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from auxeira.operations.lake import current_drift, current_rows, run_job
from auxeira.operations.lake_dataset import LakeDataset
from auxeira.operations.lake_query import DuckDbEngine
from auxeira.runtime.objects import LocalObjects
from glue_jobs import arrow_engine, snapshots
from glue_jobs.pii import Tokenizer
from glue_jobs.tables import current_table
from schemas import catalog
from schemas.wire.dynamodb import serialize_item
from tests.moto_tables import moto_dynamodb
from tests.unit.lake.lake_data import KEY, archive_envelopes, envelope


def build_lake(lake: LocalObjects, data: LakeDataset) -> None:
    archive_envelopes(lake, data.envelopes)
    run_job("raw_to_curated", lake.root, engine="arrow", pii_key=KEY.decode())
    run_job("current_state", lake.root, engine="arrow")


@pytest.fixture
def lake(objects, dataset) -> LocalObjects:
    build_lake(objects, dataset)
    return objects


def by_key(lake: LocalObjects, entity: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in current_rows(lake, current_table(entity)):
        found.setdefault(row["key"], []).append(row)
    return found


def test_each_item_is_its_latest_version_and_nothing_else_is_there(lake, dataset):
    # THEN every item of the tables is one row of its current table, at its stored version
    for entity in sorted({e for e, _ in dataset.items}):
        rows = by_key(lake, entity)
        want = {key: item for (e, key), item in dataset.items.items() if e == entity}
        assert set(rows) == set(want), entity
        for key, item in want.items():
            [row] = rows[key]
            assert row["version"] == item.get("version", 0), (entity, key)


def test_the_hard_cases_land_as_the_tables_hold_them(lake, dataset):
    hard = dataset.awkward
    # a hard delete and a TTL expiry are gone; their tables kept their other items
    for case in ("deleted", "expired"):
        entity, key = hard[case]
        assert key not in by_key(lake, entity) and by_key(lake, entity)
    # a soft-deleted item is there, flagged
    entity, key = hard["soft_deleted"]
    [row] = by_key(lake, entity)[key]
    assert row["is_deleted"] and row["deleted_reason"] == "duplicate"
    assert Counter(r["is_deleted"] for rows in by_key(lake, entity).values() for r in rows)[True] == 1
    # an item moved to another tenant is in its new place only
    entity, key, tenant = hard["moved"]
    assert [r["tenant_id"] for r in by_key(lake, entity)[key]] == [tenant]
    # mixed writers: the repository's first versioned write outranks a foreign writer's
    # unversioned ones; a change that does not bump the version still wins by sequence
    assert by_key(lake, "startup")[hard["foreign"][1]][0]["tagline"] == "versioned at last"
    assert by_key(lake, "startup")[hard["unbumped"][1]][0]["tagline"] == "not bumped"
    # a late event (it happened days before it arrived) is still the item's latest version
    assert by_key(lake, "startup")[hard["late"][1]][0]["sse_score"] == 99


def test_the_current_tables_equal_a_scan_of_the_tables(lake, dataset, monkeypatch):
    # GIVEN the tables holding exactly what the generator's writes left
    with moto_dynamodb(monkeypatch, catalog.TABLES, "t") as dynamodb:
        for (entity, _), item in dataset.items.items():
            table = catalog.table_of_entity(entity).physical_name("t")
            dynamodb.put_item(TableName=table, Item=serialize_item(item))
        # WHEN the check compares every current table with a scan (public state, pii tokenized alike)
        drift = current_drift(lake, dynamodb, "t", Tokenizer(KEY))
    # THEN there is no difference
    assert drift == []


def test_the_check_sees_a_difference(lake, dataset, monkeypatch):
    # GIVEN a table whose item changed after the lake's run
    (_, key), item = next((k, v) for k, v in dataset.items.items() if k[0] == "startup")
    with moto_dynamodb(monkeypatch, catalog.TABLES, "t") as dynamodb:
        for (e, _), stored in dataset.items.items():
            changed = {**stored, "sse_score": 3} if stored is item else stored
            dynamodb.put_item(TableName=catalog.table_of_entity(e).physical_name("t"), Item=serialize_item(changed))
        drift = current_drift(lake, dynamodb, "t", Tokenizer(KEY))
    assert [(d.key, d.reason.split(":")[0]) for d in drift] == [(f"current_startup {key}", "sse_score")]


class Watching(LocalObjects):
    """A lake that, before each snapshot file is written, records what a reader sees."""

    seen: list[int]

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> None:
        if "/snapshot=" in key and key.startswith("current/startup/"):
            self.seen.append(len(current_rows(self, current_table("startup"))))
            self.seen.append(len(DuckDbEngine(self.root).run("SELECT * FROM current_startup").rows))
        super().put(key, body, content_type)


def test_a_reader_sees_the_old_snapshot_or_the_new_never_half(tmp_path):
    # GIVEN a current table of two startups
    lake = Watching(tmp_path.absolute())
    lake.seen = []
    archive_envelopes(lake, [envelope(n=0), envelope(n=1)])
    run_job("raw_to_curated", lake.root, engine="arrow", pii_key=KEY.decode())
    arrow_engine.current_state(lake, entities=["startup"])
    assert lake.seen == [0, 0]
    first = snapshots.resolve(lake, current_table("startup"))
    # WHEN three more arrive and the job writes its next snapshot
    lake.seen.clear()
    archive_envelopes(lake, [envelope(n=n) for n in range(2, 5)], first=9000)
    run_job("raw_to_curated", lake.root, engine="arrow", pii_key=KEY.decode())
    arrow_engine.current_state(lake, entities=["startup"])
    # THEN while it was written, readers saw the whole old snapshot; after the flip, the whole new one
    assert lake.seen == [2, 2]
    assert len(current_rows(lake, current_table("startup"))) == 5
    # AND the snapshot before is kept for readers mid-query
    second = snapshots.resolve(lake, current_table("startup"))
    assert second != first and any(k.startswith(first) for k in lake.list("current/startup/"))


def test_a_run_that_died_before_its_flip_is_never_read_and_is_cleaned_up(lake):
    # GIVEN a run that wrote half a snapshot and died before publishing it
    table = current_table("startup")
    published = snapshots.resolve(lake, table)
    before = current_rows(lake, table)
    orphan = snapshots.new_snapshot(table, salt="crashed")
    lake.put(f"{orphan}part-00000.parquet", b"PAR1 half a file")
    # THEN readers still read the published snapshot
    assert snapshots.resolve(lake, table) == published and current_rows(lake, table) == before
    assert len(DuckDbEngine(lake.root).run("SELECT * FROM current_startup").rows) == len(before)
    # AND the next run publishes a complete snapshot and removes the orphan
    run_job("current_state", lake.root, engine="arrow")
    assert not any(k.startswith(orphan) for k in lake.list("current/startup/"))
    assert current_rows(lake, table) == before
