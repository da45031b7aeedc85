"""``auxeira infra render [--check]`` and ``auxeira infra package``: thin commands, exit codes as documented."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import infra.cloudformation.render as render_module
from auxeira.cli.main import app
from auxeira.cli.output import OK, PROBLEM
from infra.package.zips import Artifact

runner = CliRunner()


def test_infra_is_a_development_command_with_render_and_package():
    _, _, development = runner.invoke(app, ["--help"]).output.partition("Development")
    assert "infra" in development
    result = runner.invoke(app, ["infra", "--help"])
    assert result.exit_code == 0 and "render" in result.output and "package" in result.output


def test_the_committed_templates_are_what_the_code_renders():
    # The check CI runs: a registry or schema change without `auxeira infra render` fails here.
    result = runner.invoke(app, ["--json", "infra", "render", "--check"])
    assert result.exit_code == OK, result.stdout
    assert json.loads(result.stdout)["drift"] == []


@pytest.fixture
def templates(tmp_path, monkeypatch) -> Path:
    """A copy of the committed templates that the commands read and write instead."""
    copy = tmp_path / "templates"
    shutil.copytree(render_module.TEMPLATE_DIR, copy)
    monkeypatch.setattr(render_module, "TEMPLATE_DIR", copy)
    return copy


def test_a_hand_edited_template_is_drift_and_exit_1(templates):
    # GIVEN a committed template someone edited by hand
    path = templates / "pipeline.yaml"
    path.write_text(path.read_text().replace("PAY_PER_REQUEST", "PROVISIONED", 1))
    # WHEN the check runs THEN it names the template and exits 1
    result = runner.invoke(app, ["--json", "infra", "render", "--check"])
    assert result.exit_code == PROBLEM
    assert json.loads(result.stdout)["drift"] == [{"template": "pipeline.yaml", "state": "differs"}]


def test_render_writes_what_the_check_then_accepts(templates):
    (templates / "bootstrap.yaml").unlink()
    (templates / "stale.yaml").write_text("{}\n")
    drift = json.loads(runner.invoke(app, ["--json", "infra", "render", "--check"]).stdout)["drift"]
    assert drift == [
        {"template": "bootstrap.yaml", "state": "missing"},
        {"template": "stale.yaml", "state": "unexpected"},
    ]
    result = runner.invoke(app, ["--json", "infra", "render"])
    assert result.exit_code == OK and json.loads(result.stdout)["written"] == ["bootstrap.yaml"]
    (templates / "stale.yaml").unlink()
    assert runner.invoke(app, ["infra", "render", "--check"]).exit_code == OK


def test_package_prints_each_artifacts_sizes_and_the_release_prefix(monkeypatch, tmp_path):
    import infra.package.release
    from infra.package.release import Release

    def fake_build(root, out, *, cache):
        zip_ = Artifact(out / "lambda.zip", "ab" * 32, 31_000_000, 64_000_000, 3391)
        glue = Artifact(out / "glue-extra-py-files.zip", "cd" * 32, 40_000, 120_000, 28)
        return Release(out, "releases/0123456789abcdef", zip_, glue, ("raw_to_curated.py",))

    monkeypatch.setattr(infra.package.release, "build_release", fake_build)
    result = runner.invoke(app, ["infra", "package", "--out", str(tmp_path / "release")])
    assert result.exit_code == OK
    assert "31.0 MB zipped, 64.0 MB unzipped" in result.stderr and "releases/0123456789abcdef" in result.stderr
    summary = json.loads(runner.invoke(app, ["--json", "infra", "package", "--out", str(tmp_path)]).stdout)
    assert summary["lambda"]["unzipped_bytes"] == 64_000_000 and summary["lambda_unzipped_limit"] == 262_144_000
