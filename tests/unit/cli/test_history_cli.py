"""``auxeira history``: the real command line against moto."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from auxeira.cli.main import app
from producers.repository import Repository
from schemas import catalog
from tests.factories import make_item, make_key
from tests.moto_tables import moto_dynamodb


def test_history_lists_every_version_as_json_and_exits_1_for_an_unknown_item(monkeypatch):
    monkeypatch.setenv("AUXEIRA_ENV", "clitest")
    monkeypatch.delenv("AUXEIRA_DYNAMODB_ENDPOINT", raising=False)
    with moto_dynamodb(monkeypatch, [catalog.table("loans")], "clitest", history=True) as client:
        repo = Repository(client, env="clitest", history=True)
        repo.create("loan", make_item("loan", 1, status="draft"), actor="ana")
        repo.update("loan", make_key("loan", 1), {"status": "open"}, actor="ben")
        result = CliRunner().invoke(app, ["--json", "history", "loan", make_key("loan", 1)])
        missing = CliRunner().invoke(app, ["history", "loan", "LOAN#none|META"])
    assert result.exit_code == 0, result.output
    document = orjson.loads(result.stdout)
    assert [(v["version"], v["actor"]) for v in document["versions"]] == [(1, "ana"), (2, "ben")]
    assert missing.exit_code == 1 and "no history" in missing.stderr
