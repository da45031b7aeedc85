"""A backfill's progress per scan segment, in the checkpoint table, written under a lease.

One row per segment: ``PK = backfill:{physical table}``, ``SK = segment:{i:04d}/{n:04d}``
(the segment and the scan's ``TotalSegments``), holding ``last_key`` (the Scan's
``LastEvaluatedKey`` as DynamoDB gave it, stored as a map so any key type round-trips),
``finished`` (the segment was scanned to its end), the running counts ``scanned``,
``emitted`` and ``refused``, and the lease (``owner``, ``lease_until``) of the
checkpoint table's own primitives (:class:`~auxeira.runtime.checkpoints.Checkpoints`),
so two backfills never scan one segment at once and a killed one's lease is taken over.

A row is saved only after its page's snapshots are on the stream, and only by the
lease holder: a kill -9 between the two re-emits that page on the rerun, whose
snapshots (same event ids, same order) every projection reports as stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from auxeira.runtime.checkpoints import Checkpoints, LeaseLost
from auxeira.runtime.mapping_runner import runner_is_dead

__all__ = ["SegmentLedger", "SegmentProgress"]


@dataclass(frozen=True)
class SegmentProgress:
    segment: int
    total: int
    last_key: dict[str, Any] | None = None
    finished: bool = False
    scanned: int = 0
    emitted: int = 0
    refused: int = 0


class SegmentLedger:
    """The segment rows of one table's backfill."""

    def __init__(self, checkpoints: Checkpoints, table_name: str):
        self.checkpoints = checkpoints
        self.name = f"backfill:{table_name}"

    def all(self) -> dict[int, SegmentProgress]:
        """Every segment row, by segment number."""
        out: dict[int, SegmentProgress] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.checkpoints.table_name,
            "ConsistentRead": True,
            "KeyConditionExpression": "PK = :p",
            "ExpressionAttributeValues": {":p": {"S": self.name}},
        }
        while True:
            page = self.checkpoints.client.query(**kwargs)
            for item in page.get("Items", []):
                progress = _from_item(item)
                if progress is not None:
                    out[progress.segment] = progress
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim(self, segment: int, total: int, owner: str, ttl_seconds: float) -> bool:
        """Take or renew the segment's lease, taking over that of a runner of this machine that died."""
        sk = _sk(segment, total)
        if self.checkpoints.acquire(self.name, sk, owner, ttl_seconds):
            return True
        held = self.checkpoints.get(self.name, sk)
        if held is None or held.owner is None or not runner_is_dead(held.owner):
            return False
        return self.checkpoints.take_over(self.name, sk, owner, held.owner, ttl_seconds)

    def save(self, progress: SegmentProgress, owner: str, ttl_seconds: float) -> None:
        """Record a segment's position and renew its lease; only the lease holder may.

        Raises:
            LeaseLost: another runner holds the segment.
        """
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            ":f": {"BOOL": progress.finished},
            ":s": {"N": str(progress.scanned)},
            ":e": {"N": str(progress.emitted)},
            ":r": {"N": str(progress.refused)},
            ":u": {"S": now.isoformat()},
            ":o": {"S": owner},
            ":l": {"N": str(int((now.timestamp() + ttl_seconds) * 1000))},
        }
        sets = "finished = :f, scanned = :s, emitted = :e, refused = :r, updated_at = :u, lease_until = :l"
        if progress.last_key is not None:
            values[":k"] = {"M": progress.last_key}
            update = f"SET {sets}, last_key = :k"
        else:
            update = f"SET {sets} REMOVE last_key"
        try:
            self.checkpoints.client.update_item(
                TableName=self.checkpoints.table_name,
                Key={"PK": {"S": self.name}, "SK": {"S": _sk(progress.segment, progress.total)}},
                UpdateExpression=update,
                ConditionExpression="#o = :o",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise LeaseLost(
                    f"{self.name} segment {progress.segment}: the lease is held by another runner"
                ) from None
            raise

    def release(self, segment: int, total: int, owner: str) -> None:
        self.checkpoints.release(self.name, _sk(segment, total), owner)

    def reset(self) -> int:
        """Forget every segment (a finished backfill starts over); returns how many."""
        return self.checkpoints.reset(self.name)


def _sk(segment: int, total: int) -> str:
    return f"segment:{segment:04d}/{total:04d}"


def _from_item(item: dict[str, Any]) -> SegmentProgress | None:
    segment, _, total = item["SK"]["S"].removeprefix("segment:").partition("/")
    if not (segment.isdigit() and total.isdigit()):
        return None
    return SegmentProgress(
        segment=int(segment),
        total=int(total),
        last_key=item["last_key"]["M"] if "last_key" in item else None,
        finished=item.get("finished", {}).get("BOOL", False),
        scanned=int(item.get("scanned", {}).get("N", 0)),
        emitted=int(item.get("emitted", {}).get("N", 0)),
        refused=int(item.get("refused", {}).get("N", 0)),
    )
