"""``raw_to_curated``: its own processed-objects state, windows reset and set, typed rows split
by entity, nothing dropped (``_extra``), pii tokenized, late events, reruns (the pyarrow
engine; ``test_spark_engine.py`` checks Spark gives the same rows)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from auxeira.operations.lake import run_job
from auxeira.operations.lake_query import DuckDbEngine
from auxeira.runtime.objects import LocalObjects
from glue_jobs.parquet_io import arrow_schema, read_files, table_files
from glue_jobs.runs import RunResult
from glue_jobs.tables import curated_table
from tests.unit.lake.lake_data import KEY, archive_envelopes, archive_records, envelope, stream_of

DAY = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def curate(lake: LocalObjects, **window: Any) -> RunResult:
    return run_job("raw_to_curated", lake.root, engine="arrow", pii_key=KEY.decode(), **window)


def rows(lake: LocalObjects, entity: str) -> list[dict[str, Any]]:
    table = curated_table(entity)
    found = read_files(lake, table_files(lake, table), arrow_schema(table.columns)).to_pylist()
    return sorted(found, key=lambda r: r[table.envelope["event_id"]])


def files(lake: LocalObjects) -> dict[str, bytes]:
    return {k: lake.get(k) for k in lake.list("curated/")}


def startups(n: int, at: datetime = DAY, first: int = 0) -> list:
    return [envelope(n=first + i, at=at) for i in range(n)]


def test_a_second_run_reads_only_objects_it_has_not_processed(objects):
    # GIVEN a run over an archive of three startups
    archive_envelopes(objects, startups(3))
    assert curate(objects).rows == {"curated_startup": 3}
    # WHEN it runs again THEN nothing is read
    again = curate(objects)
    assert (again.objects, again.events, again.rows) == (0, 0, {})
    # AND after two more are archived, only their object is read
    archive_envelopes(objects, startups(2, first=3), first=9000)
    later = curate(objects)
    assert (later.objects, later.events, later.rows) == (1, 2, {"curated_startup": 2})
    assert len(rows(objects, "startup")) == 5


def test_a_window_can_be_reset_and_set(objects):
    # GIVEN two days archived and processed
    archive_envelopes(objects, startups(2, DAY))
    archive_envelopes(objects, startups(2, DAY + timedelta(days=1), first=2), first=9000)
    curate(objects)
    before = files(objects)
    day1, day2 = DAY.date(), DAY.date() + timedelta(days=1)
    # WHEN the first day is reset THEN the next run reads that day again, and writes nothing new
    assert curate(objects, start=day1, end=day1, mark="unprocessed").objects == 1
    again = curate(objects)
    assert (again.objects, again.events, again.duplicates, again.rows) == (1, 2, 2, {})
    assert files(objects) == before
    # WHEN a third day is archived but set processed THEN the next run skips it
    day3 = DAY + timedelta(days=2)
    archive_envelopes(objects, startups(2, day3, first=4), first=12000)
    assert curate(objects, start=day3.date(), end=day3.date(), mark="processed").objects == 1
    assert curate(objects).objects == 0
    assert len(rows(objects, "startup")) == 4
    # AND a window run reads it whatever the state says
    assert curate(objects, start=day2, end=day3.date()).rows == {"curated_startup": 2}
    assert len(rows(objects, "startup")) == 6


def test_rerunning_any_window_gives_the_same_rows(objects):
    # GIVEN three days processed
    for d in range(3):
        archive_envelopes(objects, startups(3, DAY + timedelta(days=d), first=3 * d), first=5000 + 1000 * d)
    curate(objects)
    before, files_before = rows(objects, "startup"), files(objects)
    # WHEN every window is run again, twice
    for _ in range(2):
        result = curate(objects, start=DAY.date(), end=DAY.date() + timedelta(days=2))
        assert result.duplicates == result.events == 9
    # THEN the rows and the files are exactly those of the first run
    assert rows(objects, "startup") == before
    assert files(objects) == files_before


def test_an_event_on_the_bus_twice_is_one_row(objects):
    # GIVEN the same envelope put twice (a publisher's retry: two Kinesis records)
    twice = envelope(n=1)
    archive_envelopes(objects, [envelope(n=0), twice, twice, envelope(n=2)])
    # WHEN curated THEN the copy is dropped
    result = curate(objects)
    assert (result.events, result.duplicates, result.rows) == (4, 1, {"curated_startup": 3})
    assert [r["event_id"] for r in rows(objects, "startup")].count(twice.event_id) == 1


def test_rows_are_split_by_entity_and_by_published_event_type(objects):
    # GIVEN table changes and published events on one stream
    user = envelope("user", after={"tenant_id": "t1", "user_id": "u1", "email": "ada@example.org"}, key="USER#u1|P")
    metric = envelope(
        "dashboard_metric",
        event_type="dashboard_metric.recorded",
        after={"user_type": "venture_capital", "subject_id": "vc1", "metric": "aum", "value": 5.5, "unit": "usd"},
        key="vc1|aum",
    )
    archive_envelopes(objects, [*startups(2), user, metric])
    # WHEN curated THEN each lands in its own table
    assert curate(objects).rows == {"curated_startup": 2, "curated_user": 1, "curated_dashboard_metric": 1}
    [row] = rows(objects, "dashboard_metric")
    assert (row["metric"], row["value"], row["event_type"], row["tenant_id"]) == (
        "aum",
        5.5,
        "dashboard_metric.recorded",
        "t1",
    )


def test_columns_are_typed_from_the_models_nested_structs_included(objects):
    # GIVEN a startup with the nested maps the seeds show
    after = {
        "tenant_id": "t1",
        "startup_id": "s1",
        "company_name": "Co",
        "sse_score": 71,
        "financial_metrics": {"mrr": 1200.5, "runway_months": 4, "last_funding_date": "2025-11-02"},
        "created_at": "2026-01-05T12:00:00.000000Z",
    }
    archive_envelopes(objects, [envelope(after=after, version=3)])
    curate(objects)
    # THEN the Parquet file has typed columns, the partition is the event's day
    [key] = [k for k in objects.list("curated/startup/") if k.endswith(".parquet")]
    assert "/dt=2026-01-05/" in key
    schema = pq.read_schema(objects.root + "/" + key)
    assert str(schema.field("sse_score").type) == "int64"
    assert str(schema.field("version").type) == "decimal128(20, 0)"
    assert str(schema.field("occurred_at").type) == "timestamp[us]"
    metrics = schema.field("financial_metrics").type
    assert str(metrics.field("mrr").type) == "double" and str(metrics.field("last_funding_date").type) == "date32[day]"
    [row] = rows(objects, "startup")
    assert row["financial_metrics"]["mrr"] == 1200.5 and row["financial_metrics"]["runway_months"] == 4.0
    assert row["financial_metrics"]["last_funding_date"] == date(2025, 11, 2)
    assert row["version"] == Decimal(3) and row["occurred_at"] == DAY.replace(tzinfo=None)
    assert row["created_at"] == datetime(2026, 1, 5, 12, 0)
    assert row["key"] == "STARTUP#s0|PROFILE" and row["_extra"] is None


def test_fields_a_model_does_not_know_are_kept_in_extra_never_dropped(objects):
    # GIVEN a newer producer's field, a value that does not fit its column, and a key a struct does not name
    after = {
        "tenant_id": "t1",
        "startup_id": "s1",
        "company_name": "Co",
        "brand_new": {"deep": [1, 2]},
        "sse_score": "very high",
        "financial_metrics": {"mrr": 10.0, "crypto_holdings": 3},
    }
    archive_envelopes(objects, [envelope(after=after)])
    curate(objects)
    [row] = rows(objects, "startup")
    # THEN each is in _extra, under its own name; the columns it did not fit are null
    assert orjson.loads(row["_extra"]) == {
        "brand_new": {"deep": [1, 2]},
        "sse_score": "very high",
        "financial_metrics": {"crypto_holdings": 3},
    }
    assert row["sse_score"] is None and row["financial_metrics"]["mrr"] == 10.0


def test_pii_is_tokenized_with_a_keyed_hash_so_joins_still_work(objects):
    # GIVEN a user and a loan participant with the same email, a startup with a pii address and a secret
    email = "ada@example.org"
    user = envelope("user", after={"tenant_id": "t1", "user_id": "u1", "email": email}, key="USER#u1|PROFILE")
    lender = envelope(
        "loan_participant",
        after={"tenant_id": "t1", "loan_id": "l1", "participant_id": "p1", "lender_email": email},
        key="LOAN#l1|PARTICIPANT#p1",
    )
    details = {"headquarters_address": {"city": "Accra", "street": "1 Ring Rd"}, "tax_id": "TAX-SECRET-1"}
    startup = envelope(after={"tenant_id": "t1", "startup_id": "s1", "company_name": "Co", "company_details": details})
    archive_envelopes(objects, [user, lender, startup])
    curate(objects)
    # THEN the value is an HMAC-SHA256 token under the lake's key, the same in both tables
    token = hmac.new(KEY, email.encode(), hashlib.sha256).hexdigest()
    assert rows(objects, "user")[0]["email"] == token
    assert rows(objects, "loan_participant")[0]["lender_email"] == token
    joined = DuckDbEngine(objects.root).run(
        "SELECT u.user_id, p.participant_id FROM curated_user u JOIN curated_loan_participant p "
        "ON u.email = p.lender_email"
    )
    assert joined.rows == [("u1", "p1")]
    # AND a pii map keeps its keys, each value a token; the secret is nowhere
    address = dict(rows(objects, "startup")[0]["company_details"]["headquarters_address"])
    assert address == {"city": hmac.new(KEY, b"Accra", hashlib.sha256).hexdigest(), "street": address["street"]}
    written = b"".join(files(objects).values())
    assert email.encode() not in written and b"Accra" not in written and b"TAX-SECRET" not in written


def test_a_late_event_lands_in_its_own_day_and_keeps_what_is_there(objects):
    # GIVEN a day processed
    archive_envelopes(objects, startups(2))
    curate(objects)
    day_files = {k: v for k, v in files(objects).items() if "/dt=2026-01-05/" in k}
    # WHEN an event that happened three days earlier arrives now (archived under today's arrival)
    late = envelope(n=7, at=DAY - timedelta(days=3))
    archive_records(objects, stream_of([late], first=20000, arrival=DAY.timestamp() + 60))
    assert next(k for k in objects.list("raw/") if "20000" in k).startswith("raw/events/dt=2026-01-05/")
    assert curate(objects).rows == {"curated_startup": 1}
    # THEN it is in its own dt, and the day's files are untouched
    assert any("/dt=2026-01-02/" in k for k in files(objects))
    assert {k: v for k, v in files(objects).items() if "/dt=2026-01-05/" in k} == day_files
    partitions = DuckDbEngine(objects.root).run("SELECT dt, count(*) FROM curated_startup GROUP BY dt ORDER BY dt")
    assert partitions.rows == [("2026-01-02", 1), ("2026-01-05", 2)]


@pytest.mark.parametrize("runs", [1, 3])
def test_the_generated_workload_is_curated_whole(objects, dataset, runs):
    # GIVEN the generator's workload (every entity, published events, late and foreign writes)
    archive_envelopes(objects, dataset.envelopes)
    # WHEN curated (once, or re-run whole twice more)
    total = curate(objects).total_rows
    for _ in range(runs - 1):
        assert curate(objects, start=date(2020, 1, 1), end=date(2027, 1, 1)).rows == {}
    # THEN there is one row per envelope, each event id once
    assert total == len(dataset.events)
    engine = DuckDbEngine(objects.root)
    ids = []
    for entity in {e.entity for e in dataset.envelopes}:
        table = curated_table(entity)
        ids += [r[0] for r in engine.run(f'SELECT "{table.envelope["event_id"]}" FROM {table.name}').rows]
    assert sorted(ids) == sorted(e.event_id for e in dataset.envelopes)
