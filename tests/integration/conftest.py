"""Fixtures of the integration tests: one local stack per session, one fresh environment per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from auxeira.operations.local_stack_pipeline import LocalRuntime, provision
from infra.local import Endpoints, LocalStack, LocalStackSettings
from infra.local.processes import free_port
from infra.local.provision import delete_environment

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"


@pytest.fixture(scope="session")
def local_stack_settings(tmp_path_factory: pytest.TempPathFactory) -> LocalStackSettings:
    """Free ports and a private state directory, so no developer's own stack is touched.

    Redis is ``REDIS_URL`` when set (never flushed: every test uses its own tenants),
    else a private redis-server.
    """
    return LocalStackSettings(
        state_dir=tmp_path_factory.mktemp("stack"),
        dynamodb_port=free_port(),
        kinesis_port=free_port(),
        redis_url=os.environ.get("REDIS_URL"),
        redis_port=0,
        node_modules=NODE_MODULES,
    )


@pytest.fixture(scope="session")
def local_stack(local_stack_settings: LocalStackSettings) -> Iterator[Endpoints]:
    """DynamoDB Local, kinesis-mock and Redis; stopped after the session."""
    stack = LocalStack(local_stack_settings)
    endpoints = stack.up()
    try:
        yield endpoints
    finally:
        stack.down()


@pytest.fixture
def make_runtime(local_stack: Endpoints, tmp_path: Path) -> Iterator:
    """Factory of fresh environments (unique table and stream names, see LOCAL_STACK.md)."""
    made: list[LocalRuntime] = []

    def make(shard_count: int = 2) -> LocalRuntime:
        env = f"it{uuid.uuid4().hex[:10]}"
        runtime = provision(local_stack, env=env, lake_root=str(tmp_path / f"lake-{env}"), shard_count=shard_count)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        delete_environment(runtime.dynamodb, runtime.kinesis, runtime.env)
