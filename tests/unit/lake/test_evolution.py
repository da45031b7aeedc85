"""Schema evolution: a new optional model field becomes a nullable column and partitions written
before still read; a removed or retyped field is refused, naming the entity and the field."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from pydantic import create_model

from auxeira.operations.lake import current_rows, run_job
from auxeira.operations.lake_query import DuckDbEngine
from glue_jobs import arrow_engine, spark_engine
from glue_jobs import tables as lake_tables
from glue_jobs.evolution import SchemaChangeRefused
from glue_jobs.parquet_io import partition_files
from glue_jobs.pii import Tokenizer
from schemas import catalog
from tests.unit.lake.lake_data import KEY, archive_envelopes, envelope

DAY = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def model_change(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Swap the startup model for another one; the lake's tables are derived again."""

    def change(**fields):
        spec = catalog.ENTITIES["startup"]
        base, removed = spec.model, {n for n, f in fields.items() if f is None}
        kept = {n: (f.annotation, f) for n, f in base.model_fields.items() if n not in removed}
        added = {n: f for n, f in fields.items() if f is not None}
        model = create_model("EvolvedStartup", **{**kept, **added})
        monkeypatch.setitem(catalog.ENTITIES, "startup", dataclasses.replace(spec, model=model))
        lake_tables.curated_tables.cache_clear()
        lake_tables.current_tables.cache_clear()

    yield change
    monkeypatch.undo()
    lake_tables.curated_tables.cache_clear()
    lake_tables.current_tables.cache_clear()


def curate(objects) -> None:
    run_job("raw_to_curated", objects.root, engine="arrow", pii_key=KEY.decode())


def test_a_new_optional_field_is_a_nullable_column_and_old_partitions_still_read(objects, model_change):
    # GIVEN a day curated with the model as it is
    archive_envelopes(objects, [envelope(n=0)])
    curate(objects)
    # WHEN the model gains an optional field and the next day's events carry it
    model_change(esg_rating=(str | None, None))
    after = {"tenant_id": "t1", "startup_id": "s1", "company_name": "Co", "esg_rating": "AA"}
    archive_envelopes(objects, [envelope(n=1, after=after, at=DAY + timedelta(days=1))], first=9000)
    curate(objects)
    # THEN the new partition has the column, the old one does not, and every reader reads both
    [old] = partition_files(objects, lake_tables.curated_table("startup"), "2026-01-05")
    assert "esg_rating" not in pq.read_schema(f"{objects.root}/{old}").names
    got = DuckDbEngine(objects.root).run("SELECT dt, esg_rating, _extra FROM curated_startup ORDER BY dt")
    assert got.rows == [("2026-01-05", None, None), ("2026-01-06", "AA", None)]
    arrow_engine.current_state(objects, entities=["startup"])
    rows = sorted(current_rows(objects, lake_tables.current_table("startup")), key=lambda r: r["key"])
    assert [r["esg_rating"] for r in rows] == [None, "AA"]


def test_spark_reads_partitions_written_before_a_field_was_added(objects, model_change, spark):
    archive_envelopes(objects, [envelope(n=0)])
    curate(objects)
    model_change(esg_rating=(str | None, None))
    archive_envelopes(objects, [envelope(n=1, at=DAY + timedelta(days=1))], first=9000)
    spark_engine.raw_to_curated(spark, objects, Tokenizer(KEY))
    result = spark_engine.current_state(spark, objects, entities=["startup"])
    assert result.rows == {"current_startup": 2}
    assert [r["esg_rating"] for r in current_rows(objects, lake_tables.current_table("startup"))] == [None, None]


@pytest.mark.parametrize(
    "change, field, word",
    [
        ({"tagline": None}, "tagline", "no longer in the model"),
        ({"sse_score": (str, ...)}, "sse_score", "was bigint"),
    ],
)
def test_a_removed_or_retyped_field_is_refused_naming_entity_and_field(objects, model_change, change, field, word):
    # GIVEN a day curated with the model as it is
    archive_envelopes(objects, [envelope(n=0)])
    curate(objects)
    written = {k: objects.get(k) for k in objects.list("curated/")}
    # WHEN a field is removed or retyped and the job runs on new events
    model_change(**change)
    archive_envelopes(objects, [envelope(n=1)], first=9000)
    with pytest.raises(SchemaChangeRefused) as refused:
        curate(objects)
    # THEN it is refused before any write, the message naming the entity and the field
    message = str(refused.value)
    assert message.startswith("startup:") and f"'{field}'" in message and word in message
    assert {k: objects.get(k) for k in objects.list("curated/")} == written


def test_a_retyped_nested_struct_field_is_refused_too(objects, model_change, monkeypatch):
    from glue_jobs import shapes

    archive_envelopes(objects, [envelope(n=0)])
    curate(objects)
    metrics = shapes.SHAPES["startup"]["financial_metrics"]
    retyped = create_model("Metrics", __base__=metrics, mrr=(str | None, None))
    monkeypatch.setitem(shapes.SHAPES["startup"], "financial_metrics", retyped)
    model_change()
    archive_envelopes(objects, [envelope(n=1)], first=9000)
    with pytest.raises(SchemaChangeRefused, match=r"startup: field 'financial_metrics\.mrr' was double"):
        curate(objects)


def test_a_new_struct_field_reads_as_null_in_partitions_written_before(objects, model_change, monkeypatch):
    from glue_jobs import shapes

    # GIVEN a startup curated with today's financial_metrics shape
    archive_envelopes(
        objects,
        [
            envelope(
                n=0,
                after={"tenant_id": "t1", "startup_id": "s0", "company_name": "Co", "financial_metrics": {"mrr": 1.0}},
            )
        ],
    )
    curate(objects)
    # WHEN the shape gains a field and the next day's startup carries it
    metrics = shapes.SHAPES["startup"]["financial_metrics"]
    grown = create_model("Metrics", __base__=metrics, quick_ratio=(float | None, None))
    monkeypatch.setitem(shapes.SHAPES["startup"], "financial_metrics", grown)
    model_change()
    after = {
        "tenant_id": "t1",
        "startup_id": "s1",
        "company_name": "Co",
        "financial_metrics": {"mrr": 2.0, "quick_ratio": 1.5},
    }
    archive_envelopes(objects, [envelope(n=1, after=after, at=DAY + timedelta(days=1))], first=9000)
    curate(objects)
    # THEN both days read, the old one with the new struct field null
    got = DuckDbEngine(objects.root).run(
        "SELECT dt, financial_metrics.mrr, financial_metrics.quick_ratio FROM curated_startup ORDER BY dt"
    )
    assert got.rows == [("2026-01-05", 1.0, None), ("2026-01-06", 2.0, 1.5)]
    arrow_engine.current_state(objects, entities=["startup"])
    rows = sorted(current_rows(objects, lake_tables.current_table("startup")), key=lambda r: r["key"])
    assert [r["financial_metrics"]["quick_ratio"] for r in rows] == [None, 1.5]
