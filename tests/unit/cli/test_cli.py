"""The ``auxeira`` command: groups, root options, and one line with exit code 2 for a user's mistake."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from auxeira.cli.main import app, classify
from auxeira.cli.output import PROBLEM, UNAVAILABLE, USAGE

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_stack(monkeypatch, tmp_path):
    """No developer stack, settings or AWS account leaks into these tests."""
    monkeypatch.setenv("AUXEIRA_STATE_DIR", str(tmp_path / "stack"))
    monkeypatch.setenv("AUXEIRA_LAKE_ROOT", str(tmp_path / "lake"))
    for name in ("AUXEIRA_ENV", "AUXEIRA_DYNAMODB_ENDPOINT", "AUXEIRA_OPENSEARCH_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def test_operations_and_development_commands_are_listed_apart():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    operations, _, development = result.output.partition("Development")
    for command in ("search", "counters", "history"):
        assert command in operations
    for command in ("local", "demo", "run", "generate"):
        assert command in development


def test_local_group_has_up_down_and_status():
    result = runner.invoke(app, ["local", "--help"])
    assert result.exit_code == 0
    for command in ("up", "down", "status"):
        assert command in result.output


def test_an_invalid_environment_name_is_one_line_and_exit_2():
    result = runner.invoke(app, ["--env", "Prod_1", "counters", "get", "STARTUP#s1"])
    assert result.exit_code == USAGE
    assert "AUXEIRA_ENV" in result.stderr and "Traceback" not in result.output
    assert result.stdout == ""


def test_counters_outside_a_running_local_stack_says_how_to_start_it():
    result = runner.invoke(app, ["counters", "get", "STARTUP#s1"])
    assert result.exit_code == USAGE
    assert "auxeira local up" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    "argv", [["run", "--shards", "0"], ["generate", "--rate", "fast"], ["generate", "--tenants", "0"]]
)
def test_a_bad_option_is_a_usage_error_naming_it(argv):
    result = runner.invoke(app, argv)
    assert result.exit_code == USAGE
    assert argv[1].lstrip("-") in result.output.lower()


def test_a_busy_port_on_local_up_is_one_line_naming_the_setting(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        monkeypatch.setenv("AUXEIRA_DYNAMODB_PORT", str(busy.getsockname()[1]))
        result = runner.invoke(app, ["local", "up"])
    assert result.exit_code == USAGE
    assert "AUXEIRA_DYNAMODB_PORT" in result.stderr and "Traceback" not in result.output


def test_local_status_of_a_stack_that_is_not_running_exits_1_with_json_on_stdout():
    import orjson

    result = runner.invoke(app, ["--json", "local", "status"])
    assert result.exit_code == PROBLEM
    assert set(orjson.loads(result.stdout)) == {"dynamodb", "kinesis", "redis"}


def test_local_down_of_a_stack_that_is_not_running_stops_nothing():
    result = runner.invoke(app, ["local", "down"])
    assert result.exit_code == 0 and "nothing was running" in result.stderr


def test_errors_map_to_the_documented_exit_codes():
    from botocore.exceptions import ClientError, EndpointConnectionError

    from schemas.errors import EntityValidationError

    assert classify(EntityValidationError("loan", "LOAN#1", [("amount", "too big")]))[0] == USAGE
    assert classify(EndpointConnectionError(endpoint_url="http://x"))[0] == UNAVAILABLE
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetItem")
    assert classify(throttled) == (UNAVAILABLE, "AWS refused GetItem: ThrottlingException: slow down")
    assert classify(RuntimeError("bug"))[0] == PROBLEM


def test_profile_and_region_reach_every_aws_client(monkeypatch):
    """``--profile`` and ``--region`` of the root command are what a deployed environment's clients use."""
    import boto3

    from auxeira.cli.context import CliContext

    sessions: list[tuple[str | None, str | None]] = []
    real = boto3.session.Session

    def recording(*args, profile_name=None, region_name=None, **kwargs):
        sessions.append((profile_name, region_name))
        return real(*args, region_name=region_name, **kwargs)

    monkeypatch.setattr(boto3.session, "Session", recording)
    monkeypatch.setenv("AUXEIRA_LAKE_ROOT", "s3://auxeira-lake-prod/lake")
    cli = CliContext(env="prod", profile="oncall", region="eu-west-2")
    clients = [cli.environment.clients.client(name) for name in ("dynamodb", "kinesis", "s3")]
    assert {c.meta.region_name for c in clients} == {"eu-west-2"}
    assert sessions and set(sessions) == {("oncall", "eu-west-2")}


def test_an_unknown_profile_is_the_users_mistake_named_in_one_line(monkeypatch):
    monkeypatch.setenv("AUXEIRA_LAKE_ROOT", "s3://auxeira-lake-prod/lake")
    result = runner.invoke(app, ["--env", "prod", "--profile", "no-such-profile", "history", "startup", "STARTUP#s1"])
    assert result.exit_code == USAGE
    assert "no-such-profile" in result.stderr and "Traceback" not in result.output
