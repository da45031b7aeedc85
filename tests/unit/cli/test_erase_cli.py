"""``auxeira erase``: the real command line against moto's DynamoDB and a local lake (no Redis, no
pipeline): the dry run's table and JSON, a completed erasure (exit 0, its record, the other user
untouched), and an erasure whose writes the pipeline has not applied (exit 1, rerun to continue)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from auxeira.cli.main import app
from auxeira.operations.erase_ledger import IN_PROGRESS, RECORDS
from auxeira.runtime.objects import LocalObjects
from producers.repository import Repository
from schemas import catalog
from schemas.resources import CHECKPOINTS_TABLE, COUNTERS_TABLE
from tests.factories import make_item
from tests.moto_tables import moto_dynamodb

ENV = "erasecli"
BASE = ["erase", "--subject", "USER#u1", "--segments", "1", "--wait", "0", "--requested-by", "dpo"]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[tuple[Any, LocalObjects]]:
    """Two users' profiles, the subject's session; every table on moto, the lake in ``tmp_path``."""
    for name in ("AUXEIRA_DYNAMODB_ENDPOINT", "AUXEIRA_REDIS_URL", "REDIS_URL", "AUXEIRA_OPENSEARCH_URL"):
        monkeypatch.delenv(name, raising=False)
    lake = tmp_path / "lake"
    monkeypatch.setenv("COLUMNS", "250")  # the tables unwrapped, so a key reads whole
    monkeypatch.setenv("AUXEIRA_ENV", ENV)
    monkeypatch.setenv("AUXEIRA_LAKE_ROOT", str(lake))
    monkeypatch.setenv("AUXEIRA_REGION", "us-east-1")
    monkeypatch.setenv("AUXEIRA_SEARCH_PATH", str(tmp_path / "search.sqlite"))
    tables = (*catalog.TABLES, CHECKPOINTS_TABLE, COUNTERS_TABLE)
    with moto_dynamodb(monkeypatch, tables, ENV, history=True) as client:
        repo = Repository(client, env=ENV, history=True)
        for n, user in ((1, "u1"), (2, "u2")):
            values = make_item("user", n, "t1", user_id=user, email=f"{user}@people.example", full_name=f"Name {user}")
            repo.create("user", values, actor=user)
        repo.create("user_session", make_item("user_session", 1, "t1", user_id="u1", ttl=None), actor="u1")
        yield client, LocalObjects(lake)


def profile(client: Any, user: str) -> Any:
    return Repository(client, env=ENV).get("user", f"USER#{user}|PROFILE")


def test_a_dry_run_prints_the_plan_as_a_table_and_as_json_and_changes_nothing(world):
    client, lake = world
    runner = CliRunner()
    # WHEN the erasure is dry-run, for humans and as JSON
    human = runner.invoke(app, [*BASE, "--dry-run"])
    as_json = runner.invoke(app, ["--json", *BASE, "--dry-run"])
    # THEN both exit 0 and show the plan: the subject's profile and session to delete, how they were found
    assert human.exit_code == 0, human.output
    assert "plan (dry run, nothing changed)" in human.stderr and "USER#u1|PROFILE" in human.stderr, human.stderr
    assert "delete" in human.stderr and human.stdout == ""
    plan = orjson.loads(as_json.stdout)
    assert as_json.exit_code == 0 and plan["erase"] == "planned"
    assert sorted((i["entity"], i["action"]) for i in plan["items"]) == [("user", "delete"), ("user_session", "delete")]
    assert plan["preview"]["history"]["deleted"] == 2 and plan["lookups"]
    # AND nothing was changed: both profiles are there, no plan, ledger or record was written
    assert profile(client, "u1") is not None and profile(client, "u2") is not None
    assert list(lake.list("_erasures/")) == []


def test_an_erasure_exits_0_with_its_record_and_leaves_the_other_user_alone(world):
    client, lake = world
    runner = CliRunner()
    # WHEN the subject is erased (human output)
    result = runner.invoke(app, [*BASE, "--reason", "ticket-17"])
    # THEN it exits 0, says so, and says what may still hold the subject
    assert result.exit_code == 0, result.output
    assert "erased: nothing of the subject was found in any store" in result.stderr
    assert "may still hold it: Kinesis stream" in result.stderr
    # AND the subject is gone, the other user is not, and the record is written (no pii in it)
    assert profile(client, "u1") is None and profile(client, "u2") is not None
    [key] = list(lake.list(RECORDS))
    record = orjson.loads(lake.get(key))
    assert record["requested_by"] == "dpo" and record["reason"] == "ticket-17"
    assert record["removed"]["source_tables"]["delete"] == {"user": 1, "user_session": 1}
    assert "u1" not in orjson.dumps(record).decode().replace(record["subject"], "")
    assert list(lake.list(IN_PROGRESS)) == []
    # AND the chain verifies; a rerun finds nothing left and adds a second record to the chain
    again = runner.invoke(app, ["--json", *BASE])
    assert again.exit_code == 0 and orjson.loads(again.stdout)["items"] == []
    chain = runner.invoke(app, ["--json", "erase", "--verify-ledger"])
    assert chain.exit_code == 0 and orjson.loads(chain.stdout) | {"last": None} == {
        "ledger": "ok",
        "records": 2,
        "last": None,
        "problems": [],
    }


def test_an_erasure_the_pipeline_has_not_applied_yet_exits_1_and_keeps_its_plan(world):
    client, lake = world
    # GIVEN a document the subject shares with a startup (pseudonymized, then awaited in the search index)
    Repository(client, env=ENV, history=True).create(
        "document", make_item("document", 1, "t1", user_id="u1", startup_id="s1"), actor="u1"
    )
    # WHEN the erasure runs and no pipeline carries its writes to the search index
    result = CliRunner().invoke(app, ["--json", *BASE])
    # THEN it exits 1: the writes are done, the search index has not applied them, rerun to continue
    assert result.exit_code == 1, result.output
    body = orjson.loads(result.stdout)
    assert body["erase"] == "problem" and "Rerun the same command" in body["message"]
    assert body["pending"]["search"] and "record" not in body
    assert {i["entity"]: i["outcome"] for i in body["items"]} == {
        "document": "pseudonymized",
        "user": "deleted",
        "user_session": "deleted",
    }
    assert list(lake.list(IN_PROGRESS)) and list(lake.list(RECORDS)) == []
    # AND a rerun resumes the same plan
    rerun = CliRunner().invoke(app, ["--json", *BASE])
    assert rerun.exit_code == 1 and orjson.loads(rerun.stdout)["resumed"] is True
