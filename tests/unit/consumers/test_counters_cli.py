"""``auxeira counters get``: against moto, mounted as ``cli/main.py`` will mount it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import orjson
import pytest
import typer
from moto import mock_aws
from typer.testing import CliRunner

from consumers.cli import counters as counters_cli
from consumers.projections.counters import CounterDelta, CounterEvent, coalesce, pad_sequence
from consumers.sinks.counters_dynamo import DynamoCounterSink, counters_table_kwargs, counters_table_name


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    """A root app with the counters group, and a counters table holding s1 in two tenants."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AUXEIRA_ENV": "clitest",
                        "AUXEIRA_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AUXEIRA_DYNAMODB_ENDPOINT", raising=False)
    with mock_aws():
        client: Any = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**counters_table_kwargs(counters_table_name("clitest")))
        sink = DynamoCounterSink(client, counters_table_name("clitest"))
        sink.write(coalesce([
            CounterEvent("shardId-000000000000", pad_sequence("42"), "e1", (
                CounterDelta("t1", "STARTUP#s1", "activities_count", add=3),
                CounterDelta("t1", "STARTUP#s1", "last_activity_at", max="2026-01-02T03:04:05.000000Z"),
                CounterDelta("t2", "STARTUP#s1", "documents_count", add=2),
            )),
        ]))
        root = typer.Typer()
        root.add_typer(counters_cli.app, name="counters")
        yield root


def test_get_with_a_tenant_prints_every_counter_of_the_parent_as_json(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["counters", "get", "startup#s1", "--tenant", "t1", "--json"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output) == {
        "tenant_id": "t1", "parent_key": "STARTUP#s1",
        "counters": {"activities_count": 3, "aux_tokens_earned_total": 0, "aux_tokens_spent_total": 0,
                     "aux_token_balance": 0, "last_activity_at": "2026-01-02T03:04:05.000000Z",
                     "documents_count": 0, "conversations_count": 0},
        "watermarks": {"shardId-000000000000": "42"},
    }


def test_get_without_a_tenant_finds_the_parent_in_every_tenant(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["counters", "get", "STARTUP#s1", "--json"])
    assert result.exit_code == 0, result.output
    rows = orjson.loads(result.output)
    assert [(r["tenant_id"], r["counters"]["documents_count"]) for r in rows] == [("t1", 0), ("t2", 2)]


def test_get_prints_a_table_for_people(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["counters", "get", "STARTUP#s1", "--tenant", "t2"])
    assert result.exit_code == 0
    assert "documents_count" in result.output and "tenant t2" in result.output


def test_an_unknown_parent_exits_1_and_a_bad_key_is_a_usage_error(cli: typer.Typer) -> None:
    assert CliRunner().invoke(cli, ["counters", "get", "STARTUP#nope", "--tenant", "t1"]).exit_code == 1
    bad = CliRunner().invoke(cli, ["counters", "get", "SPACESHIP#1"])
    assert bad.exit_code == 2 and "known: EVENT#<id>" in bad.output
