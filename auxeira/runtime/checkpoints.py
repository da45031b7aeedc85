"""Per-consumer, per-shard checkpoints in a DynamoDB table.

A checkpoint is the last sequence number of a shard whose effects are in every sink.
It is written only after a batch succeeded, so a crash between the sink write and the
checkpoint replays that batch (sinks are idempotent) and loses nothing.

Table: ``PK = consumer``, ``SK = shard_id``; attributes ``sequence_number``,
``finished`` (the closed shard was read to its end, so its children may start) and
``updated_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = ["Checkpoint", "Checkpoints"]


@dataclass(frozen=True)
class Checkpoint:
    consumer: str
    shard_id: str
    sequence_number: str | None
    finished: bool = False


class Checkpoints:
    """Reads and writes checkpoints through a low-level DynamoDB client."""

    def __init__(self, client: Any, table_name: str):
        self.client = client
        self.table_name = table_name

    def get(self, consumer: str, shard_id: str) -> Checkpoint | None:
        item = self.client.get_item(
            TableName=self.table_name, Key={"PK": {"S": consumer}, "SK": {"S": shard_id}},
            ConsistentRead=True,
        ).get("Item")
        return _from_item(item) if item else None

    def all(self, consumer: str) -> dict[str, Checkpoint]:
        out: dict[str, Checkpoint] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "ConsistentRead": True,
            "KeyConditionExpression": "PK = :c", "ExpressionAttributeValues": {":c": {"S": consumer}},
        }
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                cp = _from_item(item)
                out[cp.shard_id] = cp
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def save(self, consumer: str, shard_id: str, sequence_number: str | None, *,
             finished: bool = False) -> None:
        item = {
            "PK": {"S": consumer}, "SK": {"S": shard_id},
            "finished": {"BOOL": finished},
            "updated_at": {"S": datetime.now(timezone.utc).isoformat()},
        }
        if sequence_number is not None:
            item["sequence_number"] = {"S": sequence_number}
        self.client.put_item(TableName=self.table_name, Item=item)

    def reset(self, consumer: str) -> int:
        """Forget a consumer's checkpoints (a replay from the start); returns how many."""
        shards = list(self.all(consumer))
        for shard in shards:
            self.client.delete_item(
                TableName=self.table_name, Key={"PK": {"S": consumer}, "SK": {"S": shard}}
            )
        return len(shards)


def _from_item(item: dict[str, Any]) -> Checkpoint:
    return Checkpoint(
        consumer=item["PK"]["S"],
        shard_id=item["SK"]["S"],
        sequence_number=item.get("sequence_number", {}).get("S"),
        finished=item.get("finished", {}).get("BOOL", False),
    )
