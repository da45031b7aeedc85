"""The Glue Data Catalog against moto's Glue: every lake table, with the columns the models give,
partition projection on ``dt`` (no crawler, no MSCK REPAIR) and the pii columns listed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from glue_jobs.catalog import GLUE_JOBS, glue_database_name
from glue_jobs.catalog_sync import create_catalog, point_table
from glue_jobs.tables import all_tables, current_table
from schemas import catalog
from schemas.events import REGISTRY

ROOT = "s3://auxeira-lake-t/lake"
ENVELOPE = ("event_id", "event_type", "version", "occurred_at", "tenant_id", "key", "actor")


@pytest.fixture
def glue(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("glue", region_name="us-east-1")
        create_catalog(client, "t", ROOT)
        yield client


def tables(glue: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for page in glue.get_paginator("get_tables").paginate(DatabaseName=glue_database_name("t")):
        found.update({t["Name"]: t for t in page["TableList"]})
    return found


def columns(table: dict[str, Any]) -> dict[str, str]:
    return {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}


def test_every_entity_and_published_event_has_its_tables(glue):
    found = tables(glue)
    entities = set(catalog.ENTITIES) | set(REGISTRY.entities)
    assert {f"curated_{e}" for e in entities} <= set(found)
    states = {e for e in REGISTRY.entities if REGISTRY.model(e).kind == "state"}
    assert {f"current_{e}" for e in set(catalog.ENTITIES) | states} <= set(found)
    assert set(found) == {t.name for t in all_tables()}


def test_columns_are_the_models_fields_with_their_types_and_no_secret(glue):
    found = tables(glue)
    for entity, spec in catalog.ENTITIES.items():
        cols = columns(found[f"curated_{entity}"])
        public = {n.lower() for n in spec.model.model_fields if n not in spec.secret}
        assert public <= set(cols), entity
        # the envelope's columns; a model field of the same name (an event's own event_id) keeps
        # the name, the envelope's becomes _name
        envelope = {f"_{n}" if n in public and n in ("event_id", "event_type") else n for n in ENVELOPE}
        assert envelope | {"_extra", "_order"} <= set(cols), entity
        assert not {s.lower() for s in spec.secret if "." not in s} & set(cols), entity
    startup = columns(found["curated_startup"])
    assert startup["sse_score"] == "bigint" and startup["version"] == "decimal(20,0)"
    assert startup["occurred_at"] == "timestamp" and startup["created_at"] == "timestamp"
    assert startup["financial_metrics"].startswith("struct<") and "mrr:double" in startup["financial_metrics"]
    assert "tax_id" not in startup["company_details"]  # a nested secret has no field
    assert "headquarters_address:map<string,string>" in startup["company_details"]
    metric = columns(found["curated_dashboard_metric"])
    assert metric["value"] == "double" and metric["user_type"] == "string"
    assert columns(found["current_startup"])["is_deleted"] == "boolean"


def test_curated_tables_are_parquet_partitioned_by_dt_with_projection(glue):
    found = tables(glue)
    table = found["curated_startup"]
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    params = table["Parameters"]
    assert params["projection.enabled"] == "true" and params["projection.dt.type"] == "date"
    assert params["projection.dt.format"] == "yyyy-MM-dd" and params["projection.dt.range"].endswith(",NOW")
    assert params["storage.location.template"] == f"{ROOT}/curated/startup/dt=${{dt}}/"
    sd = table["StorageDescriptor"]
    assert sd["Location"] == f"{ROOT}/curated/startup/"
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert "Parquet" in sd["InputFormat"] and table["TableType"] == "EXTERNAL_TABLE"
    assert found["current_startup"]["PartitionKeys"] == []
    # moto answers partition queries by expression: none are registered, projection finds them
    parts = glue.get_partitions(DatabaseName=glue_database_name("t"), TableName="curated_startup")
    assert parts["Partitions"] == []


def test_pii_columns_are_listed_in_the_table_parameters(glue):
    found = tables(glue)
    pii = found["curated_user"]["Parameters"]["auxeira.pii_columns"].split(",")
    assert sorted(pii) == sorted(p.lower() for p in catalog.ENTITIES["user"].pii)
    assert "company_details.headquarters_address" in found["curated_startup"]["Parameters"]["auxeira.pii_columns"]
    assert found["curated_page_view"]["Parameters"]["auxeira.pii_columns"] == ""


def test_creating_again_updates_in_place_and_a_current_table_is_pointed_at_its_snapshot(glue):
    assert len(create_catalog(glue, "t", ROOT)) == len(all_tables())
    point_table(
        glue, glue_database_name("t"), current_table("startup"), ROOT, "current/startup/snapshot=20260101T0000Z-ab/"
    )
    table = glue.get_table(DatabaseName=glue_database_name("t"), Name="current_startup")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"{ROOT}/current/startup/snapshot=20260101T0000Z-ab/"
    assert columns(table) == columns(tables(glue)["current_startup"])


def test_the_jobs_are_glue_5_scripts_of_this_repository():
    from pathlib import Path

    root = Path(__file__).parents[3]
    for job in GLUE_JOBS:
        assert job.glue_version == "5.0" and (root / job.script).is_file() and job.max_concurrent_runs == 1
