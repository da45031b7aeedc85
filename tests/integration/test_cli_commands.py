"""Every development command through the real command line, on local stacks: ``local up|status|down``,
``generate``, ``run``, then ``search``, ``counters get`` and ``history`` reading the local stack's
endpoints, and ``demo``."""

from __future__ import annotations

import uuid

import orjson
import pytest
from typer.testing import CliRunner

from auxeira.cli.main import app
from infra.local import LocalStackSettings
from infra.local.processes import free_port
from infra.local.provision import delete_environment
from schemas.wire.dynamodb import deserialize_item

pytestmark = pytest.mark.integration
runner = CliRunner()


def _use_stack(monkeypatch: pytest.MonkeyPatch, settings: LocalStackSettings) -> None:
    monkeypatch.setenv("AUXEIRA_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("AUXEIRA_DYNAMODB_PORT", str(settings.dynamodb_port))
    monkeypatch.setenv("AUXEIRA_KINESIS_PORT", str(settings.kinesis_port))
    monkeypatch.setenv("AUXEIRA_NODE_MODULES", str(settings.node_modules))
    for name in ("AUXEIRA_DYNAMODB_ENDPOINT", "AUXEIRA_KINESIS_ENDPOINT", "AUXEIRA_OPENSEARCH_URL"):
        monkeypatch.delenv(name, raising=False)


def test_local_up_status_down_on_a_stack_of_its_own(monkeypatch, tmp_path, local_stack_settings):
    _use_stack(
        monkeypatch,
        LocalStackSettings(
            state_dir=tmp_path / "own",
            dynamodb_port=free_port(),
            kinesis_port=free_port(),
            node_modules=local_stack_settings.node_modules,
        ),
    )
    up = runner.invoke(app, ["--json", "local", "up"])
    assert up.exit_code == 0, up.output
    assert orjson.loads(up.stdout)["dynamodb_url"].startswith("http://127.0.0.1:")
    status = runner.invoke(app, ["--json", "local", "status"])
    assert status.exit_code == 0 and all(s["running"] for s in orjson.loads(status.stdout).values())
    down = runner.invoke(app, ["--json", "local", "down"])
    assert down.exit_code == 0 and sorted(orjson.loads(down.stdout)["stopped"]) == ["dynamodb", "kinesis", "redis"]
    assert runner.invoke(app, ["local", "status"]).exit_code == 1


def test_generate_then_run_then_the_read_commands_use_the_local_stack(
    request, monkeypatch, tmp_path, local_stack, local_stack_settings
):
    # GIVEN the session's stack and a fresh environment
    _use_stack(monkeypatch, local_stack_settings)
    env = f"cli{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AUXEIRA_ENV", env)
    monkeypatch.setenv("AUXEIRA_STACK", "local")
    monkeypatch.setenv("AUXEIRA_LAKE_ROOT", str(tmp_path / "lake"))
    if local_stack_settings.redis_url:
        monkeypatch.setenv("REDIS_URL", local_stack_settings.redis_url)
    request.addfinalizer(lambda: delete_environment(local_stack.dynamodb_client(), local_stack.kinesis_client(), env))
    # WHEN a little synthetic data is generated and the local mappings run until idle
    generated = runner.invoke(app, ["generate", "--tenants", "1", "--startups", "1", "--days", "7", "--seed", "3"])
    assert generated.exit_code == 0, generated.output
    line = orjson.loads(generated.stdout.strip().splitlines()[-1])
    assert line["generate"] == "ok" and line["succeeded"] > 0
    ran = runner.invoke(app, ["--json", "run", "--until-idle"])
    assert ran.exit_code == 0, ran.output
    consumers = orjson.loads(ran.stdout)["consumers"]
    # THEN every consumer reports the deployed handlers' counts
    for name in ("cache", "search", "counters"):
        assert consumers[name]["records"] > 0 and consumers[name]["applied"] > 0
        assert consumers[name]["poison"] == 0 and consumers[name]["dead_lettered"] == 0
    # AND the read commands find the data through the stack's endpoints
    [startup] = [
        deserialize_item(i)
        for i in local_stack.dynamodb_client().scan(TableName=f"auxeira-startups-{env}")["Items"]
        if i["SK"]["S"] == "PROFILE"
    ]
    tenant, key = startup["tenant_id"], f"{startup['PK']}|PROFILE"
    counters = runner.invoke(app, ["--json", "counters", "get", startup["PK"], "--tenant", tenant])
    assert counters.exit_code == 0, counters.output
    assert orjson.loads(counters.stdout)["counters"]["activities_count"] > 0
    found = runner.invoke(app, ["--json", "search", startup["company_name"], "--tenant", tenant, "-e", "startups"])
    assert found.exit_code == 0, found.output
    assert key in [h["id"] for h in orjson.loads(found.stdout)["hits"]]
    history = runner.invoke(app, ["--json", "history", "startup", key])
    assert history.exit_code == 0 and orjson.loads(history.stdout)["versions"]
    assert runner.invoke(app, ["counters", "get", "STARTUP#missing", "--tenant", tenant]).exit_code == 1


def test_demo_through_the_command_line_prints_one_json_line_and_exits_0(monkeypatch, tmp_path, local_stack_settings):
    _use_stack(
        monkeypatch, LocalStackSettings(state_dir=tmp_path / "unused", node_modules=local_stack_settings.node_modules)
    )
    monkeypatch.setenv("AUXEIRA_LAKE_ROOT", str(tmp_path / "lake"))
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    [line] = result.stdout.strip().splitlines()
    assert orjson.loads(line)["demo"] == "ok"
