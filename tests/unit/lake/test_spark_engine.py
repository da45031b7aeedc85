"""The Glue scripts' Spark path gives the rows the pyarrow reference gives: curated and current,
the hard cases included (values that do not fit, unknown fields, pii maps, duplicates)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from auxeira.operations.lake import current_rows
from auxeira.runtime.objects import LocalObjects
from glue_jobs import arrow_engine, spark_engine
from glue_jobs._runtime import lake_path
from glue_jobs.parquet_io import arrow_schema, read_files, table_files
from glue_jobs.pii import Tokenizer
from glue_jobs.tables import curated_table, current_table
from tests.unit.lake.lake_data import KEY, archive_envelopes, envelope

ENTITIES = ("startup", "user", "activity", "dashboard_metric")


def odd_ones() -> list:
    """Envelopes the native Spark expressions cannot be sure of: the reference computes them."""
    after: dict[str, Any] = {
        "tenant_id": "t1",
        "startup_id": "odd",
        "company_name": "{looks like json}",
        "sse_score": "12",
        "tagline": 10000000.0,
        "brand_new": [1, {"x": None}],
        "financial_metrics": {"mrr": {"$n": "12.50"}, "arr": 1e21, "crypto_holdings": True},
        "company_details": {"headquarters_address": {"city": "Lagos", "zip": 100001}},
        "product_market": {"competitive_advantages": ["fast", "{not json", 10000000.0], "key_competitors": ["a", "b"]},
    }
    return [envelope(n=90, after=after), envelope(n=91, after={**after, "startup_id": "odd2", "sse_score": 7.5})]


#: Timestamps in UTC three ways, without an offset, and east and west of UTC: Spark casts
#: UTC texts directly and resolves the others by zone.
TIMESTAMPS = {
    "2026-01-05T12:00:00Z": "2026-01-05T12:00:00",
    "2026-01-05T12:00:00+00:00": "2026-01-05T12:00:00",
    "2026-01-05T12:00:00-00:00": "2026-01-05T12:00:00",
    "2026-01-05T12:00:00.123456": "2026-01-05T12:00:00.123456",
    "2026-01-05T12:00:00.5+02:00": "2026-01-05T10:00:00.500000",
    "2026-01-05T23:30:00-05:30": "2026-01-06T05:00:00",
}


def timestamped() -> list:
    return [
        envelope(n=200 + n, after={"tenant_id": "t1", "startup_id": f"ts{n}", "created_at": text, "updated_at": text})
        for n, text in enumerate(TIMESTAMPS)
    ]


def plain(rows: list[dict[str, Any]], id_column: str) -> list[bytes]:
    def norm(value: Any) -> Any:
        if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
            return sorted(value)
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        return value

    return sorted(
        orjson.dumps({k: norm(v) for k, v in r.items()}, default=str, option=orjson.OPT_SORT_KEYS) for r in rows
    )


@pytest.fixture(scope="module")
def lakes(tmp_path_factory, dataset, spark) -> tuple[LocalObjects, LocalObjects]:
    """The same archive curated (and its current state built) by Spark and by pyarrow; the
    odd rows are also in an object of their own (a replay under other sequence numbers)."""
    chosen = [e for e in dataset.envelopes if e.entity in ENTITIES]
    chosen += odd_ones() + timestamped()
    chosen.append(chosen[3])  # a duplicate on the bus
    tokenizer = Tokenizer(KEY)
    lakes = []
    for name in ("spark", "arrow"):
        lake = LocalObjects(tmp_path_factory.mktemp(name).absolute())
        archive_envelopes(lake, chosen)
        archive_envelopes(lake, odd_ones(), first=90_000)
        lakes.append(lake)
    spark_engine.raw_to_curated(spark, lakes[0], tokenizer)
    spark_engine.current_state(spark, lakes[0], entities=list(ENTITIES))
    arrow_engine.raw_to_curated(lakes[1], tokenizer)
    arrow_engine.current_state(lakes[1], entities=list(ENTITIES))
    return lakes[0], lakes[1]


@pytest.mark.parametrize("entity", ENTITIES)
def test_spark_curates_the_rows_the_reference_does(lakes, entity):
    table = curated_table(entity)
    got, want = (read_files(lake, table_files(lake, table), arrow_schema(table.columns)).to_pylist() for lake in lakes)
    assert want and plain(got, "event_id") == plain(want, "event_id")


@pytest.mark.parametrize("entity", ENTITIES)
def test_spark_builds_the_current_state_the_reference_does(lakes, entity):
    table = current_table(entity)
    got, want = (current_rows(lake, table) for lake in lakes)
    assert want and plain(got, "key") == plain(want, "key")


def test_the_odd_rows_went_through_the_reference_and_kept_everything(lakes):
    spark_lake, _ = lakes
    table = curated_table("startup")
    rows = read_files(spark_lake, table_files(spark_lake, table), arrow_schema(table.columns)).to_pylist()
    [odd] = [r for r in rows if r["startup_id"] == "odd"]
    assert odd["sse_score"] == 12 and odd["company_name"] == "{looks like json}"
    assert orjson.loads(odd["_extra"]) == {
        "brand_new": [1, {"x": None}],
        "financial_metrics": {"crypto_holdings": True},
    }
    assert odd["financial_metrics"]["mrr"] == 12.5
    assert odd["product_market"]["competitive_advantages"] == ["fast", "{not json", "10000000.0"]


def test_the_native_expressions_and_the_reference_udf_give_the_same_rows(spark, tmp_path, dataset):
    # GIVEN one entity's raw lines, parsed as the job parses them
    lake = LocalObjects(tmp_path.absolute())
    archive_envelopes(lake, [e for e in dataset.envelopes if e.entity == "startup"] + odd_ones())
    paths = [lake_path(lake, k) for k in lake.list("raw/")]
    parsed = spark_engine.parse_lines(spark.read.text(paths))
    table, tokenizer = curated_table("startup"), Tokenizer(KEY)
    # WHEN the pure transform computes them natively, and all through the reference
    native = spark_engine.curated_frame(parsed, table, tokenizer)
    reference = spark_engine.curated_frame(parsed, table, tokenizer, reference_only=True)
    # THEN the rows are the same
    rows = [plain([r.asDict(recursive=True) for r in frame.collect()], "event_id") for frame in (native, reference)]
    assert rows[0] == rows[1] and len(rows[0]) == parsed.count()


def test_rows_the_native_path_cannot_be_sure_of_are_read_again_from_their_objects_once_each(
    spark, tmp_path_factory, monkeypatch
):
    # GIVEN plain startups and odd ones, the odd ones twice in one object (sent twice) and
    # again in another (a replay under other sequence numbers), in a Spark lake and a pyarrow
    # one; Spark computes them in its UDF (the module's lakes compute theirs on the driver)
    monkeypatch.setattr(spark_engine, "DRIVER_REFERENCE_ROWS", 0)
    plain_ones = [envelope(n=n) for n in range(3)]
    lakes = []
    for name in ("spark", "arrow"):
        lake = LocalObjects(tmp_path_factory.mktemp(name).absolute())
        archive_envelopes(lake, [*plain_ones, *odd_ones(), *odd_ones()])
        archive_envelopes(lake, odd_ones(), first=9000)
        lakes.append(lake)
    assert len(list(lakes[0].list("raw/"))) == 2
    # WHEN each engine curates its lake
    spark_result = spark_engine.raw_to_curated(spark, lakes[0], Tokenizer(KEY))
    arrow_engine.raw_to_curated(lakes[1], Tokenizer(KEY))
    # THEN each odd row is written once, as the reference computes it from its line
    table = curated_table("startup")
    got, want = (read_files(lake, table_files(lake, table), arrow_schema(table.columns)).to_pylist() for lake in lakes)
    assert sorted(r["startup_id"] for r in got) == ["odd", "odd2", "s0", "s1", "s2"]
    assert spark_result.rows[table.name] == 5 and spark_result.duplicates == 4
    assert plain(got, "event_id") == plain(want, "event_id")
    [odd] = [r for r in got if r["startup_id"] == "odd"]
    assert odd["sse_score"] == 12 and orjson.loads(odd["_extra"])["brand_new"] == [1, {"x": None}]


def test_timestamps_in_any_offset_land_as_their_utc_wall_clock(lakes):
    spark_lake, _ = lakes
    table = curated_table("startup")
    rows = read_files(spark_lake, table_files(spark_lake, table), arrow_schema(table.columns)).to_pylist()
    created = {r["startup_id"]: r["created_at"].isoformat() for r in rows if r["startup_id"].startswith("ts")}
    assert created == {f"ts{n}": utc for n, utc in enumerate(TIMESTAMPS.values())}
