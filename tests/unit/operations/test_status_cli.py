"""``auxeira status`` through the command line: JSON or a table, exit 1 on a problem, ``--watch`` until Ctrl-C."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from auxeira.cli import status as status_cli
from auxeira.cli.main import app
from auxeira.cli.output import Output
from auxeira.operations.status_epochs import StoreStatus
from auxeira.operations.status_report import ConsumerStatus, StatusReport
from auxeira.operations.status_shards import ShardLag
from auxeira.runtime.epochs import Epoch, EpochCheck, EpochState

runner = CliRunner()


class Cli:
    """What the command needs of the root context, without settings or a stack."""

    def __init__(self, as_json: bool):
        self.as_json, self.is_local, self.environment = as_json, True, object()
        self.out = Output(as_json)


def report(reset: bool = False) -> StatusReport:
    shard = ShardLag("shardId-000000000001", ("shardId-000000000000",), "49", False, records_behind=3)
    check = EpochCheck(
        "cache",
        EpochState.RESET if reset else EpochState.OK,
        None if reset else Epoch("e1", "2026-01-01T00:00:00+00:00"),
        Epoch("e1", "2026-01-01T00:00:00+00:00"),
    )
    return StatusReport(
        "prod",
        "local",
        1_800_000_000.0,
        consumers=[ConsumerStatus("cache", "kinesis", "arn", 24.0, [shard])],
        stores=[StoreStatus(check, ("auxeira backfill --table <table>",) if reset else ())],
        dead_letters={"cache": 0},
    )


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch) -> list[StatusReport]:
    queue: list[StatusReport] = []
    monkeypatch.setattr(status_cli, "collect_status", lambda env, **_: queue.pop(0))
    return queue


def invoke(monkeypatch: pytest.MonkeyPatch, *args: str, as_json: bool = True) -> Any:
    monkeypatch.setattr(status_cli, "context_of", lambda ctx: Cli(as_json))
    return runner.invoke(app, ["status", *args])


def test_json_on_stdout_and_exit_0_when_nothing_is_wrong(monkeypatch, reports):
    reports.append(report())
    result = invoke(monkeypatch)
    assert result.exit_code == 0, result.output
    body = orjson.loads(result.stdout)
    assert body["status"] == "ok" and body["stores"][0]["state"] == "ok"
    assert body["consumers"][0]["shards"][0]["parents"] == ["shardId-000000000000"]


def test_a_reset_store_exits_1_and_the_table_names_the_rebuild(monkeypatch, reports):
    reports.append(report(reset=True))
    result = invoke(monkeypatch, as_json=False)
    assert result.exit_code == 1
    assert "reset" in result.output and "auxeira backfill --table" in result.output


def test_watch_refreshes_until_ctrl_c_and_exits_with_the_last_state(monkeypatch, reports):
    reports += [report(), report(reset=True)]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(status_cli, "pause", sleep)
    result = invoke(monkeypatch, "--watch", "--interval", "2")
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["ok", "problems"] and sleeps == [2.0, 2.0]
    assert result.exit_code == 1
