"""``auxeira counters get``: the real command line against moto."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import orjson
import pytest
import typer
from moto import mock_aws
from typer.testing import CliRunner

from auxeira.cli.main import app
from consumers.projections.counter_items import histogram_attr
from consumers.projections.counters import CounterDelta, CounterEvent, coalesce, pad_sequence
from consumers.sinks.counters_dynamo import DynamoCounterSink
from infra.tables import create_table_request
from schemas.entities.lending import LOAN_COMPUTED_FIELDS
from schemas.resources import COUNTERS_TABLE


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    """A root app with the counters group, and a counters table holding s1 in two tenants."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AUXEIRA_ENV": "clitest",
        "AUXEIRA_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AUXEIRA_DYNAMODB_ENDPOINT", raising=False)
    with mock_aws():
        client: Any = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**create_table_request(COUNTERS_TABLE, "clitest"))
        sink = DynamoCounterSink(client, COUNTERS_TABLE.physical_name("clitest"))
        sink.write(
            coalesce(
                [
                    CounterEvent(
                        "shardId-000000000000",
                        pad_sequence("42"),
                        "e1",
                        (
                            CounterDelta("t1", "STARTUP#s1", "activities_count", add=3),
                            CounterDelta("t1", "STARTUP#s1", "last_activity_at", max="2026-01-02T03:04:05.000000Z"),
                            CounterDelta("t2", "STARTUP#s1", "documents_count", add=2),
                        ),
                    ),
                ]
            )
        )
        yield app


def test_get_with_a_tenant_prints_every_counter_of_the_parent_as_json(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["--json", "counters", "get", "startup#s1", "--tenant", "t1"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == {
        "tenant_id": "t1",
        "parent_key": "STARTUP#s1",
        "counters": {
            "activities_count": 3,
            "aux_tokens_earned_total": 0,
            "aux_tokens_spent_total": 0,
            "aux_token_balance": 0,
            "last_activity_at": "2026-01-02T03:04:05.000000Z",
            "documents_count": 0,
            "conversations_count": 0,
        },
        "watermarks": {"shardId-000000000000": "42"},
    }


def test_get_without_a_tenant_finds_the_parent_in_every_tenant(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["--json", "counters", "get", "STARTUP#s1"])
    assert result.exit_code == 0, result.output
    rows = orjson.loads(result.stdout)
    assert [(r["tenant_id"], r["counters"]["documents_count"]) for r in rows] == [("t1", 0), ("t2", 2)]


def test_get_prints_a_table_for_people(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["counters", "get", "STARTUP#s1", "--tenant", "t2"])
    assert result.exit_code == 0
    assert "documents_count" in result.output and "tenant t2" in result.output


def test_an_unknown_parent_exits_1_and_a_bad_key_is_a_usage_error(cli: typer.Typer) -> None:
    assert CliRunner().invoke(cli, ["counters", "get", "STARTUP#nope", "--tenant", "t1"]).exit_code == 1
    bad = CliRunner().invoke(cli, ["counters", "get", "SPACESHIP#1"])
    assert bad.exit_code == 2 and "known: EVENT#<id>" in bad.output


@pytest.fixture
def loan_cli(cli: typer.Typer) -> typer.Typer:
    """The same table with loan l1 of t1: target 10000, two accepted participants and one pending."""
    client: Any = boto3.client("dynamodb", region_name="us-east-1")
    sink = DynamoCounterSink(client, COUNTERS_TABLE.physical_name("clitest"))
    buckets = [
        CounterDelta("t1", "LOAN#l1", histogram_attr("contributions", Decimal(a)), add=1) for a in ("2500.50", "1000")
    ]
    sink.write(
        coalesce(
            [
                CounterEvent(
                    "shardId-000000000000",
                    pad_sequence("50"),
                    "l1",
                    (
                        CounterDelta("t1", "LOAN#l1", "target_amount", version=2, value=Decimal("10000")),
                        CounterDelta("t1", "LOAN#l1", "participant_count", add=3),
                        CounterDelta("t1", "LOAN#l1", "accepted_participant_count", add=2),
                        CounterDelta("t1", "LOAN#l1", "pending_participant_count", add=1),
                        CounterDelta("t1", "LOAN#l1", "total_funded", add=Decimal("3500.5")),
                        *buckets,
                    ),
                ),
            ]
        )
    )
    return cli


def test_get_of_a_loan_shows_its_counters_and_its_computed_fields(loan_cli: typer.Typer) -> None:
    result = CliRunner().invoke(loan_cli, ["--json", "counters", "get", "loan#l1", "--tenant", "t1"])
    assert result.exit_code == 0, result.output
    shown = orjson.loads(result.stdout)
    assert shown["counters"] == {
        "participant_count": 3,
        "accepted_participant_count": 2,
        "pending_participant_count": 1,
        "total_funded": 3500.5,
        "contributions": {"1000": 1, "2500.5": 1},
        "target_amount": 10000,
    }
    assert shown["computed"] == {
        "total_funded": 3500.5,
        "funding_percentage": 35.01,
        "participant_count": 3,
        "accepted_participant_count": 2,
        "pending_participant_count": 1,
        "is_fully_funded": False,
        "average_contribution": 1750.25,
        "largest_contribution": 2500.5,
        "smallest_contribution": 1000,
    }
    assert set(shown["computed"]) == set(LOAN_COMPUTED_FIELDS)


def test_get_of_a_loan_prints_the_computed_fields_for_people(loan_cli: typer.Typer) -> None:
    result = CliRunner().invoke(loan_cli, ["counters", "get", "LOAN#l1", "--tenant", "t1"])
    assert result.exit_code == 0, result.output
    assert "funding_percentage (computed)" in result.output and "35.01" in result.output
    assert "1000 x1, 2500.5 x1" in result.output


def test_startups_have_no_computed_fields(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["--json", "counters", "get", "STARTUP#s1", "--tenant", "t1"])
    assert "computed" not in orjson.loads(result.stdout)
