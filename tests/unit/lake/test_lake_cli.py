"""``auxeira lake run|stats`` and ``auxeira query`` on a local lake, through typer's CliRunner."""

from __future__ import annotations

import csv
import io

import orjson
import pytest
from typer.testing import CliRunner

from auxeira.cli.main import app
from auxeira.runtime.objects import LocalObjects
from tests.unit.lake.lake_data import archive_envelopes, envelope

runner = CliRunner()


@pytest.fixture
def lake(monkeypatch, tmp_path) -> LocalObjects:
    """An archive of three startups and a user, as ``AUXEIRA_LAKE_ROOT``; no stack, no account."""
    root = tmp_path.absolute() / "lake"
    monkeypatch.setenv("AUXEIRA_STATE_DIR", str(tmp_path / "stack"))
    monkeypatch.setenv("AUXEIRA_LAKE_ROOT", str(root))
    for name in ("AUXEIRA_ENV", "AUXEIRA_DYNAMODB_ENDPOINT", "AUXEIRA_OPENSEARCH_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    objects = LocalObjects(root)
    user = envelope("user", after={"tenant_id": "t2", "user_id": "u1", "email": "a@b.org"}, key="USER#u1|PROFILE")
    archive_envelopes(objects, [*(envelope(n=n, tenant=f"t{n % 2}") for n in range(3)), user])
    return objects


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_lake_run_runs_the_jobs_and_reports_their_counts(lake):
    result = invoke("--json", "lake", "run", "raw_to_curated", "--engine", "arrow")
    assert result.exit_code == 0, result.output
    body = orjson.loads(result.stdout)
    assert (body["job"], body["engine"], body["events"]) == ("raw_to_curated", "arrow", 4)
    assert body["rows"] == {"curated_startup": 3, "curated_user": 1}
    again = orjson.loads(invoke("--json", "lake", "run", "raw_to_curated", "--engine", "arrow").stdout)
    assert again["objects"] == 0
    current = invoke("--json", "lake", "run", "current_state", "--engine", "arrow")
    assert current.exit_code == 0 and orjson.loads(current.stdout)["rows"]["current_startup"] == 3
    # the human form is a table of rows per table
    human = invoke("lake", "run", "compact")
    assert human.exit_code == 0 and "compact" in human.output


def test_lake_run_resets_and_reruns_a_window(lake):
    invoke("lake", "run", "raw_to_curated", "--engine", "arrow")
    reset = invoke(
        "--json", "lake", "run", "raw_to_curated", "--from", "2026-01-05", "--to", "2026-01-05", "--mark", "unprocessed"
    )
    assert reset.exit_code == 0 and orjson.loads(reset.stdout)["objects"] == 1
    rerun = orjson.loads(invoke("--json", "lake", "run", "raw_to_curated", "--engine", "arrow").stdout)
    assert (rerun["objects"], rerun["duplicates"], rerun["rows"]) == (1, 4, {})


@pytest.mark.parametrize(
    "args, hint",
    [
        (["lake", "run", "vacuum"], "raw_to_curated"),
        (["lake", "run", "raw_to_curated", "--from", "2026-01-01"], "go together"),
        (["lake", "run", "raw_to_curated", "--from", "yesterday", "--to", "today"], "not a date"),
    ],
)
def test_lake_run_refuses_a_bad_request_as_a_usage_error(lake, args, hint):
    result = invoke(*args)
    assert result.exit_code == 2 and hint in result.output


def test_lake_stats_lists_files_rows_and_bytes_per_table_and_partition(lake):
    invoke("lake", "run", "raw_to_curated", "--engine", "arrow")
    invoke("lake", "run", "current_state", "--engine", "arrow")
    result = invoke("--json", "lake", "stats")
    assert result.exit_code == 0, result.output
    stats = {(s["table"], s["partition"]): s for s in orjson.loads(result.stdout)}
    assert stats[("curated_startup", "dt=2026-01-05")]["rows"] == 3
    assert stats[("curated_startup", "dt=2026-01-05")]["files"] == 1
    assert stats[("raw_events", "dt=2026-01-05")]["files"] >= 1 and stats[("raw_events", "dt=2026-01-05")]["bytes"] > 0
    [current] = [s for (t, _), s in stats.items() if t == "current_startup"]
    assert current["rows"] == 3 and current["partition"].startswith("snapshot=")
    only = orjson.loads(invoke("--json", "lake", "stats", "--table", "curated_user").stdout)
    assert [s["table"] for s in only] == ["curated_user"]
    assert "curated_startup" in invoke("lake", "stats").output


@pytest.fixture
def curated(lake) -> LocalObjects:
    invoke("lake", "run", "raw_to_curated", "--engine", "arrow")
    invoke("lake", "run", "current_state", "--engine", "arrow")
    return lake


def test_query_runs_sql_over_the_catalog_views_in_each_format(curated):
    sql = "SELECT tenant_id, count(*) AS n FROM curated_startup GROUP BY tenant_id ORDER BY tenant_id"
    as_json = invoke("query", sql, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert orjson.loads(as_json.stdout) == [{"tenant_id": "t0", "n": 2}, {"tenant_id": "t1", "n": 1}]
    assert orjson.loads(invoke("--json", "query", sql).stdout) == orjson.loads(as_json.stdout)
    as_csv = invoke("query", sql, "--format", "csv", "--engine", "duckdb")
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [["tenant_id", "n"], ["t0", "2"], ["t1", "1"]]
    table = invoke("query", sql)
    assert table.exit_code == 0 and "t0" in table.output and "2 rows" in table.output


def test_query_runs_a_pack_query_and_lists_the_pack(curated):
    listing = orjson.loads(invoke("--json", "query", "--list").stdout)
    assert {"name": "activity_leaderboard"}.items() <= listing[0].items() and len(listing) == 14
    found = invoke("query", "--pack", "dashboard_startup_founder", "--format", "json")
    assert found.exit_code == 1 and orjson.loads(found.stdout) == []  # no metric points in this lake: no row


def test_query_a_refused_query_is_a_users_mistake_and_no_row_is_exit_1(curated):
    wrong = invoke("query", "SELECT nope FROM curated_startup")
    assert wrong.exit_code == 2 and "duckdb refused the query" in wrong.output and "nope" in wrong.output
    empty = invoke("query", "SELECT * FROM curated_startup WHERE false", "--format", "json")
    assert empty.exit_code == 1 and orjson.loads(empty.stdout) == []
    bad = invoke("query", "SELECT 1", "--engine", "oracle")
    assert bad.exit_code == 2 and "duckdb" in bad.output
