"""The ``auxeira`` command exposes every tool the README lists."""

from __future__ import annotations

from typer.testing import CliRunner

from auxeira.cli.main import app


def test_every_documented_command_is_registered():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("local", "demo", "run", "generate", "search", "counters", "history"):
        assert command in result.output


def test_local_group_has_up_down_and_status():
    result = CliRunner().invoke(app, ["local", "--help"])
    assert result.exit_code == 0
    for command in ("up", "down", "status"):
        assert command in result.output


def test_generate_rejects_a_bad_rate_naming_the_option():
    result = CliRunner().invoke(app, ["generate", "--rate", "fast"])
    assert result.exit_code != 0
    assert "rate" in result.output.lower()
