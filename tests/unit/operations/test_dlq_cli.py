"""``auxeira dlq list | show | redrive``: the real command line on a lake directory, with the
search consumer's embedded index as its sink (no server needed): grouping, filters, decoded
payloads, exit codes, a dry run that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from auxeira.cli.main import app
from auxeira.operations.dlq import parse_since
from auxeira.runtime import failure_records
from auxeira.runtime.dead_letters import DeadLetter, DeadLetterStore
from auxeira.runtime.failure_records import FailureRecords
from auxeira.runtime.objects import LocalObjects
from consumers.sinks.search_embedded import EmbeddedSearchSink
from tests.kinesis_records import envelope, kinesis_record

ENV = "dlqtest"
SHARD = "shardId-000000000002"


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalObjects]:
    """A deployed-style environment whose lake is a directory (nothing reaches AWS)."""
    for name, value in {
        "AUXEIRA_ENV": ENV,
        "AUXEIRA_LAKE_ROOT": str(tmp_path / "lake"),
        "AUXEIRA_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AUXEIRA_OPENSEARCH_URL", "AUXEIRA_SEARCH_PATH", "AUXEIRA_STACK", "AUXEIRA_DYNAMODB_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    yield LocalObjects(tmp_path / "lake")


def letter(consumer: str, sequence: int, data: Any, error: str = "PoisonRecordError", days_ago: int = 0) -> DeadLetter:
    record = kinesis_record(data, shard=SHARD, sequence=str(sequence))
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    made = DeadLetter(
        consumer, SHARD, str(sequence), error, f"{error} at {sequence}", record, source_arn=record["eventSourceARN"]
    )
    return replace(made, at=at)


def seed(lake: LocalObjects) -> dict[str, str]:
    """Two search letters (one undecodable, one old), one cache letter, one cache failure record."""
    store = DeadLetterStore(lake)
    ids = {
        "search_ok": store.put(letter("search", 1, envelope("STARTUP#s1|PROFILE"))),
        "search_bad": store.put(letter("search", 2, b"\x00not an envelope")),
        "search_old": store.put(letter("search", 3, envelope("STARTUP#s3|PROFILE"), days_ago=3)),
        "cache": store.put(letter("cache", 4, envelope("STARTUP#s4|PROFILE"), error="RecordAgeExceeded")),
    }
    document = failure_records.build(
        [kinesis_record(envelope("STARTUP#s5|PROFILE"))],
        consumer="cache",
        condition="RetryAttemptsExhausted",
        invoke_count=2,
        function_error="Unhandled",
        at=datetime.now(UTC),
    )
    ids["failure"] = FailureRecords(lake).put(document, consumer="cache")
    return ids


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_list_groups_by_consumer_and_error_type_and_exits_1_when_anything_is_set_aside(lake) -> None:
    ids = seed(lake)
    result = run("--json", "dlq", "list")
    assert result.exit_code == 1, result.output
    body = orjson.loads(result.stdout)
    assert body["total"] == 5 and sorted(i["id"] for i in body["items"]) == sorted(ids.values())
    groups = {(g["consumer"], g["error_type"]): (g["dead_letters"], g["failure_records"]) for g in body["groups"]}
    assert groups == {
        ("cache", "RecordAgeExceeded"): (1, 0),
        ("cache", "RetryAttemptsExhausted"): (0, 1),
        ("search", "PoisonRecordError"): (3, 0),
    }
    search = next(g for g in body["groups"] if g["consumer"] == "search")
    assert search["oldest"] < search["newest"]


def test_list_filters_by_consumer_error_type_and_time_and_prints_a_table_for_people(lake) -> None:
    ids = seed(lake)
    only = orjson.loads(run("--json", "dlq", "list", "--consumer", "search", "--since", "1d").stdout)
    assert sorted(i["id"] for i in only["items"]) == sorted([ids["search_ok"], ids["search_bad"]])
    aged = orjson.loads(run("--json", "dlq", "list", "--error-type", "recordageexceeded").stdout)
    assert [i["id"] for i in aged["items"]] == [ids["cache"]]
    table = CliRunner().invoke(app, ["dlq", "list"], env={"COLUMNS": "250"})
    assert "RetryAttemptsExhausted" in table.output and "auxeira dlq show" in table.output


def test_an_empty_lake_lists_nothing_and_exits_0_and_bad_options_exit_2(lake) -> None:
    assert run("--json", "dlq", "list").exit_code == 0
    assert orjson.loads(run("--json", "dlq", "list").stdout)["total"] == 0
    assert run("dlq", "list", "--since", "yesterday-ish").exit_code == 2
    assert run("dlq", "list", "--consumer", "spaceship").exit_code == 2


def test_show_decodes_the_kinesis_data_into_the_envelope_and_shows_undecodable_data_as_it_is(lake) -> None:
    ids = seed(lake)
    good = orjson.loads(run("--json", "dlq", "show", ids["search_ok"]).stdout)
    [record] = good["records"]
    assert record["kinesis"]["envelopes"][0]["key"] == "STARTUP#s1|PROFILE" and "data" not in record["kinesis"]
    assert good["message"] == "PoisonRecordError at 1" and good["first_sequence"] == "1"
    bad = orjson.loads(run("--json", "dlq", "show", ids["search_bad"]).stdout)
    assert "data_error" in bad["records"][0]["kinesis"] and bad["records"][0]["kinesis"]["data"]
    failure = orjson.loads(run("--json", "dlq", "show", ids["failure"]).stdout)
    assert failure["kind"] == "failure_record" and failure["record_count"] == 1 and failure["records"]
    missing = run("dlq", "show", "dlq/search/dt=2020-01-01/none.json")
    assert missing.exit_code == 1 and "no dead letter or failure record" in missing.output


def test_redrive_dry_run_prints_the_plan_and_changes_nothing(lake) -> None:
    ids = seed(lake)
    before = {k: lake.get(k) for k in lake.list("")}
    result = run("--json", "dlq", "redrive", "--consumer", "search", "--dry-run")
    assert result.exit_code == 0, result.output
    plan = orjson.loads(result.stdout)
    assert plan["dry_run"] is True and plan["selected"] == 3
    assert [(p["id"], p["moves_to"]) for p in plan["plan"]] == [
        (ids[name], f"redriven/{ids[name]}") for name in ("search_old", "search_ok", "search_bad")
    ]
    assert {k: lake.get(k) for k in lake.list("")} == before


def test_redrive_applies_what_now_applies_reports_what_is_still_poison_and_exits_1(lake) -> None:
    ids = seed(lake)
    result = run("--json", "dlq", "redrive", "--consumer", "search")
    assert result.exit_code == 1, result.output
    body = orjson.loads(result.stdout)
    outcomes = {r["id"]: r["outcome"] for r in body["results"]}
    assert outcomes == {ids["search_old"]: "applied", ids["search_ok"]: "applied", ids["search_bad"]: "still_poison"}
    assert body["moved"] == 2 and lake.exists(ids["search_bad"]) and not lake.exists(ids["search_ok"])
    sink = EmbeddedSearchSink.for_lake(lake.root, env=ENV)
    assert sorted(h.body["company_name"] for h in sink.search("Co", tenant="t1")) == [
        "Co STARTUP#s1|PROFILE v1",
        "Co STARTUP#s3|PROFILE v1",
    ]
    # AND once only the bad one is left, people get the summary and the one to look at
    again = CliRunner().invoke(app, ["dlq", "redrive", "--consumer", "search"], env={"COLUMNS": "250"})
    assert again.exit_code == 1 and "1 still_poison" in again.output
    assert ids["search_bad"] in again.output and "invalid envelope: not JSON" in again.output  # its new cause


def test_since_takes_durations_and_iso_times() -> None:
    now = datetime(2026, 1, 2, 12, tzinfo=UTC)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_since("2026-01-01T10:00:00+02:00") == datetime(2026, 1, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="--since"):
        parse_since("soon")


def test_an_object_that_does_not_parse_is_listed_as_unreadable_and_never_redriven(lake) -> None:
    # GIVEN a truncated dead letter beside a good one
    ids = seed(lake)
    lake.put("dlq/search/dt=2026-01-01/broken.json", b'{"consumer": "sea')
    # WHEN listed and redriven
    listed = orjson.loads(run("--json", "dlq", "list", "--error-type", "Unreadable").stdout)
    redriven = orjson.loads(run("--json", "dlq", "redrive", "--error-type", "Unreadable").stdout)
    # THEN it is shown for what it is, reported failed, and left alone
    assert [i["id"] for i in listed["items"]] == ["dlq/search/dt=2026-01-01/broken.json"]
    assert [r["outcome"] for r in redriven["results"]] == ["failed"] and "does not parse" in redriven["results"][0][
        "note"
    ]
    assert lake.get("dlq/search/dt=2026-01-01/broken.json") == b'{"consumer": "sea' and lake.exists(ids["search_ok"])
