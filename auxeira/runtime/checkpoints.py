"""Per-consumer, per-shard checkpoints and leases in a DynamoDB table.

A checkpoint is the last sequence number of a shard whose effects are in the sink. It is
written only after a batch succeeded, so a crash between the sink write and the
checkpoint replays that batch (sinks are idempotent) and loses nothing.

Two guards, both conditions of the write itself (so no read-then-write race):

* **never backwards**: a save whose position is below the stored one fails with
  :class:`CheckpointConflict` (a late writer cannot rewind a shard). Positions are
  compared as zero-padded decimal strings (``position``), since a condition expression
  compares strings, and Kinesis sequence numbers reach 129 digits. An operator moves a
  checkpoint back on purpose with :meth:`Checkpoints.set` or :meth:`Checkpoints.reset`.
* **one owner per shard**: a runner takes a lease (``owner``, ``lease_until``) before
  reading a shard and renews it as it goes; while the lease is live no other runner
  may take it or save a checkpoint for it (:class:`LeaseLost`). A lease that expired
  (its runner died) can be taken over, and the new owner resumes at the checkpoint.
  The local event source mappings and the on-call replay share this table, so a
  replay and a running consumer never read one shard at once.

Table (``schemas.resources.CHECKPOINTS_TABLE``): ``PK = consumer``, ``SK = shard_id``;
``sequence_number``, ``position``, ``finished`` (the closed shard was read to its end,
so its children may start), ``owner``, ``lease_until`` (epoch ms), ``updated_at``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from schemas.errors import PipelineError

__all__ = ["POSITION_WIDTH", "Checkpoint", "CheckpointConflict", "Checkpoints", "LeaseLost", "position"]

#: Kinesis sequence numbers match ``0|([1-9]\d{0,128})``; DynamoDB's are 21-40 digits.
POSITION_WIDTH = 129


class CheckpointConflict(PipelineError):
    """A save would move a checkpoint backwards."""


class LeaseLost(PipelineError):
    """Another runner holds the shard's lease: this runner must stop reading it."""


def position(sequence: str) -> str:
    """A sequence number as a fixed-width string, so string order is numeric order."""
    if not sequence.isdigit() or len(sequence) > POSITION_WIDTH:
        raise ValueError(f"{sequence!r} is not a stream sequence number")
    return sequence.zfill(POSITION_WIDTH)


@dataclass(frozen=True)
class Checkpoint:
    consumer: str
    shard_id: str
    sequence_number: str | None
    finished: bool = False
    owner: str | None = None
    lease_until_ms: int | None = None
    updated_at: str | None = None


class Checkpoints:
    """Reads and writes checkpoints and leases through a low-level DynamoDB client.

    Args:
        clock: epoch seconds (injected by tests, to expire leases).
    """

    def __init__(self, client: Any, table_name: str, *, clock: Callable[[], float] = time.time):
        self.client = client
        self.table_name = table_name
        self._clock = clock

    def _key(self, consumer: str, shard_id: str) -> dict[str, Any]:
        return {"PK": {"S": consumer}, "SK": {"S": shard_id}}

    def get(self, consumer: str, shard_id: str) -> Checkpoint | None:
        item = self.client.get_item(
            TableName=self.table_name, Key=self._key(consumer, shard_id), ConsistentRead=True
        ).get("Item")
        return _from_item(item) if item else None

    def all(self, consumer: str) -> dict[str, Checkpoint]:
        out: dict[str, Checkpoint] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "ConsistentRead": True,
            "KeyConditionExpression": "PK = :c",
            "ExpressionAttributeValues": {":c": {"S": consumer}},
        }
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                cp = _from_item(item)
                out[cp.shard_id] = cp
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def consumers(self) -> list[str]:
        """Every consumer that has a checkpoint (for ``auxeira status``)."""
        seen: set[str] = set()
        kwargs: dict[str, Any] = {"TableName": self.table_name, "ProjectionExpression": "PK"}
        while True:
            page = self.client.scan(**kwargs)
            seen.update(item["PK"]["S"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(seen)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- guarded writes ----------------------------------------------------------------

    def save(
        self,
        consumer: str,
        shard_id: str,
        sequence_number: str | None,
        *,
        finished: bool = False,
        owner: str | None = None,
    ) -> None:
        """Advance a checkpoint (or mark its shard finished).

        Raises:
            CheckpointConflict: the stored position is beyond ``sequence_number``.
            LeaseLost: ``owner`` is given and another runner holds the live lease.
        """
        names = {"#f": "finished", "#u": "updated_at"}
        values: dict[str, Any] = {":f": {"BOOL": finished}, ":u": {"S": datetime.now(UTC).isoformat()}}
        sets = ["#f = :f", "#u = :u"]
        conditions = []
        if sequence_number is not None:
            names.update({"#s": "sequence_number", "#p": "position"})
            values.update({":s": {"S": sequence_number}, ":p": {"S": position(sequence_number)}})
            sets += ["#s = :s", "#p = :p"]
            conditions.append("(attribute_not_exists(#p) OR #p <= :p)")
        if owner is not None:
            names.update({"#o": "owner", "#l": "lease_until"})
            values.update({":o": {"S": owner}, ":now": {"N": str(self._now_ms())}})
            conditions.append("(attribute_not_exists(#o) OR #o = :o OR #l < :now)")
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(consumer, shard_id),
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **({"ConditionExpression": " AND ".join(conditions)} if conditions else {}),
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            raise self._refusal(consumer, shard_id, sequence_number, owner, exc) from None

    def acquire(self, consumer: str, shard_id: str, owner: str, ttl_seconds: float = 30.0) -> bool:
        """Take or renew the shard's lease for ``ttl_seconds``; False if another runner holds it."""
        now = self._now_ms()
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(consumer, shard_id),
                UpdateExpression="SET #o = :o, #l = :until",
                ConditionExpression="attribute_not_exists(#o) OR #o = :o OR #l < :now",
                ExpressionAttributeNames={"#o": "owner", "#l": "lease_until"},
                ExpressionAttributeValues={
                    ":o": {"S": owner},
                    ":now": {"N": str(now)},
                    ":until": {"N": str(now + int(ttl_seconds * 1000))},
                },
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def take_over(self, consumer: str, shard_id: str, owner: str, dead_owner: str, ttl_seconds: float = 30.0) -> bool:
        """Take the lease of a runner known to be dead (its process is gone), before it expires.

        Conditional on ``dead_owner`` still holding it, so two runners taking over at once
        cannot both win.
        """
        now = self._now_ms()
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(consumer, shard_id),
                UpdateExpression="SET #o = :o, #l = :until",
                ConditionExpression="#o = :dead",
                ExpressionAttributeNames={"#o": "owner", "#l": "lease_until"},
                ExpressionAttributeValues={
                    ":o": {"S": owner},
                    ":dead": {"S": dead_owner},
                    ":until": {"N": str(now + int(ttl_seconds * 1000))},
                },
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, consumer: str, shard_id: str, owner: str) -> None:
        """Give a lease up (a runner stopping cleanly); a lease held by someone else is left alone."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(consumer, shard_id),
                UpdateExpression="REMOVE #o, #l",
                ConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "owner", "#l": "lease_until"},
                ExpressionAttributeValues={":o": {"S": owner}},
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise

    # -- operator moves (replay) ---------------------------------------------------------

    def set(self, consumer: str, shard_id: str, sequence_number: str | None, *, finished: bool = False) -> None:
        """Put a checkpoint anywhere, backwards included (an operator's replay), keeping no lease."""
        item: dict[str, Any] = {
            **self._key(consumer, shard_id),
            "finished": {"BOOL": finished},
            "updated_at": {"S": datetime.now(UTC).isoformat()},
        }
        if sequence_number is not None:
            item["sequence_number"] = {"S": sequence_number}
            item["position"] = {"S": position(sequence_number)}
        self.client.put_item(TableName=self.table_name, Item=item)

    def reset(self, consumer: str) -> int:
        """Forget a consumer's checkpoints (a replay from the start); returns how many."""
        shards = list(self.all(consumer))
        for shard in shards:
            self.client.delete_item(TableName=self.table_name, Key=self._key(consumer, shard))
        return len(shards)

    def _refusal(
        self, consumer: str, shard_id: str, sequence: str | None, owner: str | None, exc: ClientError
    ) -> PipelineError:
        raw = exc.response.get("Item")
        stored = _from_item(raw) if raw else self.get(consumer, shard_id)
        if (
            owner is not None
            and stored is not None
            and stored.owner not in (None, owner)
            and (stored.lease_until_ms or 0) >= self._now_ms()
        ):
            return LeaseLost(f"{consumer}/{shard_id}: the lease is held by {stored.owner}")
        return CheckpointConflict(
            f"{consumer}/{shard_id}: checkpoint {stored.sequence_number if stored else None} "
            f"is beyond {sequence}; it never moves backwards"
        )

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _from_item(item: dict[str, Any]) -> Checkpoint:
    lease = item.get("lease_until", {}).get("N")
    return Checkpoint(
        consumer=item["PK"]["S"],
        shard_id=item["SK"]["S"],
        sequence_number=item.get("sequence_number", {}).get("S"),
        finished=item.get("finished", {}).get("BOOL", False),
        owner=item.get("owner", {}).get("S"),
        lease_until_ms=int(lease) if lease is not None else None,
        updated_at=item.get("updated_at", {}).get("S"),
    )
