"""``auxeira replay`` and ``auxeira backfill`` through the real command line on the local stack: the
dry runs' JSON plans, the runs' summaries and exit codes, and a replay process killed with SIGKILL
mid-way whose rerun resumes from its checkpoints and ends with the cache equal to the tables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import orjson
import pytest
from typer.testing import CliRunner

from auxeira.cli.main import app
from auxeira.operations.local_stack_pipeline import LocalRuntime
from auxeira.runtime import shard_sources
from consumers.sinks.search_embedded import search_db_path
from consumers.verify import compare_cache
from infra.local import LocalStackSettings
from tests.integration.test_replay import expected, live, wipe_cache

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(autouse=True)
def _settle_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window ending now waits out the stream's clock skew at each shard's tip; one clock here."""
    monkeypatch.setattr(shard_sources, "END_SETTLE_SECONDS", 0.2)


def settings_for(runtime: LocalRuntime, stack: LocalStackSettings) -> dict[str, str]:
    """The variables that point the command line at this test environment on the session's stack."""
    variables = {
        "AUXEIRA_STATE_DIR": str(stack.state_dir),
        "AUXEIRA_DYNAMODB_PORT": str(stack.dynamodb_port),
        "AUXEIRA_KINESIS_PORT": str(stack.kinesis_port),
        "AUXEIRA_NODE_MODULES": str(stack.node_modules),
        "AUXEIRA_ENV": runtime.env,
        "AUXEIRA_STACK": "local",
        "AUXEIRA_LAKE_ROOT": runtime.lake_root,
        "AUXEIRA_SEARCH_PATH": str(search_db_path(runtime.lake_root, runtime.env)),
    }
    if stack.redis_url:
        variables["REDIS_URL"] = stack.redis_url
    return variables


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, make_runtime, local_stack_settings):
    runtime = make_runtime(shard_count=3)
    variables = settings_for(runtime, local_stack_settings)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    for name in ("AUXEIRA_DYNAMODB_ENDPOINT", "AUXEIRA_KINESIS_ENDPOINT", "AUXEIRA_OPENSEARCH_URL"):
        monkeypatch.delenv(name, raising=False)
    return runtime, variables


def invoke(*argv: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["--json", *argv])
    return result.exit_code, orjson.loads(result.stdout) if result.stdout.strip() else {"stderr": result.stderr}


def test_replay_and_backfill_plan_run_and_refuse_mistakes_through_the_command_line(cli_env):
    runtime, _ = cli_env
    env, tenants, start = live(runtime, seed=11)
    since = start.isoformat()
    # The dry run is a plan on stdout, and changes nothing
    code, found = invoke("replay", "--projection", "cache", "--from", since, "--dry-run")
    assert code == 0 and found["plan"] == "replay" and found["source"] == "kinesis"
    assert len(found["shards"]) == 3 and found["projections"][0]["records"] == found["records"] > 0
    assert all(s["start"].startswith("AT_TIMESTAMP ") for s in found["shards"])
    # The run rebuilds a wiped cache and sums up
    wipe_cache(env, tenants)
    code, summary = invoke("replay", "--projection", "cache", "--from", since)
    assert code == 0 and summary["replay"] == "ok"
    assert summary["projections"]["cache"]["read"] == found["records"]
    assert compare_cache(expected(runtime, tenants), env.sink("cache"), tenants) == []
    # Backfill: a plan counted per segment, then the run
    code, planned = invoke("backfill", "--table", "startups", "--segments", "2", "--dry-run")
    assert code == 0 and planned["tables"][0]["items"] == 9 and len(planned["tables"][0]["per_segment"]) == 2
    code, filled = invoke("backfill", "--table", "startups", "--segments", "2")
    assert code == 0 and filled["tables"][0]["emitted"] == 9
    # Mistakes are one line and exit 2
    later = (start + timedelta(hours=1)).isoformat()
    for argv in (
        ["replay", "--projection", "nope", "--from", since],
        ["replay", "--projection", "cache", "--from", later, "--to", since],
        ["replay", "--projection", "cache", "--from", "yesterday"],
        ["replay", "--projection", "cache", "--from", since, "--rate", "fast"],
        ["backfill", "--table", "users"],
    ):
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, (argv, result.output)
        assert "Traceback" not in result.output


def test_a_replay_killed_with_sigkill_resumes_on_rerun_and_the_cache_equals_the_tables(cli_env):
    # GIVEN a history consumed live, then a cache that lost its state
    runtime, variables = cli_env
    env, tenants, start = live(runtime, seed=12)
    wipe_cache(env, tenants)
    argv = ["--json", "replay", "--projection", "cache", "--from", start.isoformat(), "--rate", "12/s"]
    # WHEN the replay process is killed with SIGKILL once it checkpointed a shard
    process = subprocess.Popen(
        [sys.executable, "-m", "auxeira.cli.main", *argv],
        env={**os.environ, **variables},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    consumer = None
    deadline = time.monotonic() + 60
    while consumer is None and time.monotonic() < deadline and process.poll() is None:
        consumer = next(
            (
                name
                for name in env.checkpoints().consumers()
                if name.startswith("replay:cache:")
                and any(cp.sequence_number for cp in env.checkpoints().all(name).values())
            ),
            None,
        )
        time.sleep(0.1)
    assert consumer is not None and process.poll() is None, process.stderr.read() if process.stderr else ""
    process.send_signal(signal.SIGKILL)
    process.wait()
    held = env.checkpoints().all(consumer)
    assert not all(cp.finished for cp in held.values())
    code, left = invoke(*argv[1:], "--dry-run")
    remaining = left["projections"][0]["records"]
    assert code == 0 and 0 < remaining < left["records"]
    # AND the same command is run again
    code, summary = invoke(*argv[1:])
    # THEN it took the dead runner's leases at once, read only what the killed run had not checkpointed,
    # and the cache equals the tables
    cache = summary["projections"]["cache"]
    assert code == 0 and cache["resumed_shards"] >= 1 and cache["consumer"] == consumer
    assert cache["read"] == remaining
    assert compare_cache(expected(runtime, tenants), env.sink("cache"), tenants) == []
