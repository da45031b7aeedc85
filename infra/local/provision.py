"""Create an environment's tables and events stream on the local stack, from the registry.

Every table of :data:`schemas.resources.REGISTRY` (the source tables with their streams,
the pipeline's own tables without) is rendered by :func:`infra.tables.create_table_request`,
the same rendering the CloudFormation tables follow.

Idempotent under concurrency: two processes provisioning one environment at once (an
``auxeira run`` and an ``auxeira generate`` started together) both succeed. A table or
stream another process created first (``ResourceInUseException``), TTL another process
enabled first, and a table still ``CREATING`` are all waited for, never raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from infra.tables import create_table_request
from schemas.resources import REGISTRY, Registry
from schemas.tables import TableSpec

__all__ = ["Provisioned", "delete_environment", "delete_tables", "provision_stream", "provision_tables"]


@dataclass(frozen=True)
class Provisioned:
    """Physical source-table name -> its stream ARN."""

    stream_arns: dict[str, str]


def provision_tables(
    client: Any,
    env: str,
    registry: Registry = REGISTRY,
    *,
    source_tables: tuple[TableSpec, ...] | None = None,
    timeout: float = 60.0,
) -> Provisioned:
    """Create (or find) every table of ``env``; return the source tables' stream ARNs.

    Args:
        source_tables: a subset of the registry's source tables (tests); every internal
            table is always provisioned.
    """
    specs = (*(registry.source_tables if source_tables is None else source_tables), *registry.internal_tables)
    existing = set(_list_tables(client))
    for spec in specs:
        if spec.physical_name(env) not in existing:
            _create(client, spec, env)
    arns: dict[str, str] = {}
    for spec in specs:
        table = _wait_active(client, spec.physical_name(env), timeout)
        if spec.ttl_attr:
            _enable_ttl(client, spec.physical_name(env), spec.ttl_attr)
        if spec.stream_view:
            arns[spec.physical_name(env)] = table["LatestStreamArn"]
    return Provisioned(arns)


def _create(client: Any, spec: TableSpec, env: str) -> None:
    try:
        client.create_table(**create_table_request(spec, env))
    except ClientError as exc:
        if _code(exc) != "ResourceInUseException":  # created meanwhile by another process
            raise


def _wait_active(client: Any, name: str, timeout: float) -> dict[str, Any]:
    return _until(lambda: _active_table(client, name), f"table {name} not ACTIVE", timeout)


def _active_table(client: Any, name: str) -> dict[str, Any] | None:
    table = client.describe_table(TableName=name)["Table"]
    return table if table.get("TableStatus", "ACTIVE") == "ACTIVE" else None


def _enable_ttl(client: Any, name: str, attribute: str) -> None:
    status = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    if status.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    try:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
        )
    except ClientError as exc:
        # "TimeToLive is already enabled": another process enabled it in between.
        if _code(exc) != "ValidationException" or "already enabled" not in str(exc):
            raise


def delete_tables(client: Any, env: str, registry: Registry = REGISTRY) -> None:
    """Delete every table of ``env`` that exists."""
    existing = set(_list_tables(client))
    for spec in registry.tables:
        if spec.physical_name(env) in existing:
            try:
                client.delete_table(TableName=spec.physical_name(env))
            except ClientError as exc:
                if _code(exc) not in ("ResourceNotFoundException", "ResourceInUseException"):
                    raise


def provision_stream(
    client: Any, env: str, registry: Registry = REGISTRY, *, shard_count: int | None = None, timeout: float = 30.0
) -> str:
    """Create the events stream of ``env`` if missing, wait until ACTIVE, return its ARN."""
    name = registry.stream.physical_name(env)
    try:
        client.create_stream(StreamName=name, ShardCount=shard_count or registry.stream.shard_count)
    except ClientError as exc:
        if _code(exc) != "ResourceInUseException":
            raise
    summary = _until(lambda: _active_stream(client, name), f"stream {name} not ACTIVE", timeout)
    return str(summary["StreamARN"])


def _active_stream(client: Any, name: str) -> dict[str, Any] | None:
    summary = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    return summary if summary["StreamStatus"] == "ACTIVE" else None


def delete_environment(dynamodb: Any, kinesis: Any, env: str, registry: Registry = REGISTRY) -> None:
    """Delete every table and the events stream of ``env``."""
    delete_tables(dynamodb, env, registry)
    try:
        kinesis.delete_stream(StreamName=registry.stream.physical_name(env), EnforceConsumerDeletion=True)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise


def _until(probe: Callable[[], dict[str, Any] | None], what: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout}s")
        time.sleep(0.1)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _list_tables(client: Any) -> list[str]:
    names: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = client.list_tables(**kwargs)
        names += page.get("TableNames", [])
        if "LastEvaluatedTableName" not in page:
            return names
        kwargs["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]
