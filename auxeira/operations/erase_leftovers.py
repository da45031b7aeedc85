"""What may still hold an erased subject after the erasure, and until when (the record states it).

Nothing the erasure can rewrite is listed here; these are the copies it cannot reach:

* **the events stream**: Kinesis keeps every record, the subject's old envelopes and the
  erasure's own deletes (whose ``before`` is the profile), for its retention period
  (``describe_stream_summary``; the registry's ``StreamSpec`` when the stream cannot be
  asked): until the last erasure write plus that many hours. A replay or redrive skips
  them (the ledger); nothing else reads the stream from the start;
* **the tables' streams**: DynamoDB Streams keep a change for 24 hours (a fixed period);
* **point-in-time recovery** of a table with PITR on, for its recovery period
  (``describe_continuous_backups``; 35 days unless set);
* **object versions**, when the lake's bucket is versioned (``get_bucket_versioning``):
  the versions the rewrite replaced stay until a lifecycle rule expires noncurrent
  versions (``NoncurrentVersionExpiration``), or forever without one. A local lake keeps
  no versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from auxeira.operations.environment import Environment
from auxeira.runtime.objects import split_s3_uri

__all__ = ["STREAM_RECORD_HOURS", "may_still_hold"]

#: DynamoDB Streams keep a stream record for 24 hours (DynamoDB developer guide, "Change data capture").
STREAM_RECORD_HOURS = 24
_DEFAULT_PITR_DAYS = 35


def may_still_hold(env: Environment, tables: Iterable[str], last_write: float | None) -> list[dict[str, Any]]:
    """The copies no erasure reaches, each with ``store``, ``until`` (ISO, or None: no end) and ``why``."""
    at = datetime.fromtimestamp(last_write, UTC) if last_write else datetime.now(UTC)
    names = sorted(set(tables))
    out = [_stream(env, at)]
    if names:
        until = at + timedelta(hours=STREAM_RECORD_HOURS)
        out.append(
            {
                "store": "DynamoDB Streams of " + ", ".join(names),
                "until": _iso(until),
                "why": "stream records of the erasure's writes and earlier changes, kept 24 h",
            }
        )
    out += [p for name in names if (p := _pitr(env, name, at)) is not None]
    out.append(_versions(env, at))
    return out


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds")


def _stream(env: Environment, at: datetime) -> dict[str, Any]:
    hours = env.registry.stream.retention_hours
    source = "StreamSpec"
    try:
        summary = env.kinesis.describe_stream_summary(StreamName=env.stream_name)["StreamDescriptionSummary"]
        hours, source = int(summary["RetentionPeriodHours"]), "the stream"
    except (ClientError, BotoCoreError, KeyError):
        pass
    return {
        "store": f"Kinesis stream {env.stream_name}",
        "until": _iso(at + timedelta(hours=hours)),
        "why": f"records within the stream's retention ({hours} h, read from {source}); replay and redrive skip them",
    }


def _pitr(env: Environment, table: str, at: datetime) -> dict[str, Any] | None:
    try:
        found = env.dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    except (ClientError, BotoCoreError, KeyError):
        return None
    pitr = found.get("PointInTimeRecoveryDescription") or {}
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        return None
    days = int(pitr.get("RecoveryPeriodInDays") or _DEFAULT_PITR_DAYS)
    return {
        "store": f"point-in-time recovery of {table}",
        "until": _iso(at + timedelta(days=days)),
        "why": f"a restore to a time before the erasure brings the subject back (recovery period {days} days)",
    }


def _versions(env: Environment, at: datetime) -> dict[str, Any]:
    if not env.lake_root.startswith("s3://"):
        return {"store": f"lake {env.lake_root}", "until": _iso(at), "why": "a local directory keeps no versions"}
    bucket, _ = split_s3_uri(env.lake_root)
    try:
        status = env.s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except (ClientError, BotoCoreError) as exc:
        return {"store": f"s3://{bucket}", "until": None, "why": f"versioning could not be read: {exc}"}
    if status not in ("Enabled", "Suspended"):
        return {"store": f"s3://{bucket}", "until": _iso(at), "why": "the bucket is not versioned: no old versions"}
    days = _noncurrent_days(env, bucket)
    return {
        "store": f"noncurrent object versions in s3://{bucket}",
        "until": _iso(at + timedelta(days=days)) if days is not None else None,
        "why": (
            f"versioning is {status}: rewritten and deleted objects keep their old versions"
            + (
                f" until the lifecycle rule expires them ({days} days)"
                if days is not None
                else ", with no rule expiring them"
            )
        ),
    }


def _noncurrent_days(env: Environment, bucket: str) -> int | None:
    try:
        rules = env.s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except (ClientError, BotoCoreError):
        return None
    days = [
        int(r["NoncurrentVersionExpiration"]["NoncurrentDays"])
        for r in rules
        if r.get("Status") == "Enabled" and "NoncurrentDays" in (r.get("NoncurrentVersionExpiration") or {})
    ]
    return max(days) if days else None
