"""Create the pipeline's tables and stream on a local stack (idempotent).

Tables come from the table specs (streams on, TTL enabled where the spec has a TTL
attribute), plus the checkpoint table (no stream: checkpoints must not loop back
through the router) and the Kinesis events stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from auxeira.runtime.checkpoints import checkpoint_table_kwargs
from consumers.sinks.counters_dynamo import counters_table_kwargs, counters_table_name
from producers.history import HISTORY_TABLE, history_table_kwargs
from schemas.tables import TableSpec

__all__ = ["Provisioned", "provision_tables", "provision_stream", "delete_tables"]


@dataclass(frozen=True)
class Provisioned:
    """Physical table name -> its stream ARN."""

    stream_arns: dict[str, str]


def provision_tables(client: Any, specs: tuple[TableSpec, ...], env: str, checkpoint_table: str) -> Provisioned:
    existing = set(_list_tables(client))
    arns: dict[str, str] = {}
    for spec in specs:
        name = spec.physical_name(env)
        if name not in existing:
            client.create_table(**spec.create_table_kwargs(env))
            if spec.ttl_attr:
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attr},
                )
        arns[name] = client.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    # None of these three has a stream: their writes must not loop back through the router.
    if checkpoint_table not in existing:
        client.create_table(**checkpoint_table_kwargs(checkpoint_table))
    if counters_table_name(env) not in existing:
        client.create_table(**counters_table_kwargs(counters_table_name(env)))
    if HISTORY_TABLE.physical_name(env) not in existing:
        client.create_table(**history_table_kwargs(HISTORY_TABLE.physical_name(env)))
    return Provisioned(arns)


def delete_tables(client: Any, specs: tuple[TableSpec, ...], env: str, checkpoint_table: str) -> None:
    existing = set(_list_tables(client))
    extra = [checkpoint_table, counters_table_name(env), HISTORY_TABLE.physical_name(env)]
    for name in [s.physical_name(env) for s in specs] + extra:
        if name in existing:
            client.delete_table(TableName=name)


def provision_stream(client: Any, stream_name: str, shard_count: int, timeout: float = 30.0) -> str:
    """Create the events stream if missing, wait until ACTIVE, return its ARN."""
    try:
        client.create_stream(StreamName=stream_name, ShardCount=shard_count)
    except client.exceptions.ResourceInUseException:
        pass
    deadline = time.monotonic() + timeout
    while True:
        summary = client.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == "ACTIVE":
            return summary["StreamARN"]
        if time.monotonic() > deadline:
            raise TimeoutError(f"stream {stream_name} not ACTIVE after {timeout}s")
        time.sleep(0.1)


def _list_tables(client: Any) -> list[str]:
    names: list[str] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = client.list_tables(**kwargs)
        names += page.get("TableNames", [])
        if "LastEvaluatedTableName" not in page:
            return names
        kwargs["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]
