"""``auxeira status``: is the pipeline behind, is anything about to be lost, did a store lose its state.

Two views of the consumers, because they keep their positions in two places:

* **local** (the local runner, and replays anywhere): positions are in the checkpoint
  table, so every consumer is shown per shard (children and parents after a reshard,
  with their finished flags): checkpoint, records and milliseconds behind the tip, the
  newest record applied, and how long before the oldest unprocessed record leaves the
  stream's retention (:mod:`auxeira.operations.status_shards`);
* **aws**: the consumers are Lambda event source mappings, whose positions live inside
  Lambda; :mod:`auxeira.operations.status_aws` reports what AWS exposes instead.

Both add the dead-letter and failure-record counts, and the epoch state of every
projection store (:mod:`auxeira.operations.status_epochs`). Every figure that needs
attention becomes a warning (:class:`~auxeira.operations.status_report.Thresholds`), and
a report with a warning is a problem (exit code 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from auxeira.operations.environment import ARCHIVER, CONSUMERS, Environment
from auxeira.operations.status_epochs import store_statuses
from auxeira.operations.status_report import ConsumerStatus, StatusReport, Thresholds, count_objects, span
from auxeira.operations.status_shards import RECORDS_CAP, ShardLag, probe_shard
from auxeira.runtime.checkpoints import Checkpoint
from auxeira.runtime.epochs import EPOCHS_PK
from auxeira.runtime.failure_records import mapping_uuid
from auxeira.runtime.shard_sources import DynamoStreamSource, KinesisSource, ShardSource
from schemas.resources import LAKE

__all__ = ["DYNAMODB_STREAM_RETENTION_HOURS", "collect_status"]

#: Consumers probed at once.
PROBES = 8
#: DynamoDB Streams keep a record 24 hours; it cannot be changed.
DYNAMODB_STREAM_RETENTION_HOURS = 24.0


def collect_status(
    env: Environment,
    *,
    view: str = "local",
    thresholds: Thresholds | None = None,
    cap: int = RECORDS_CAP,
    clock: Callable[[], float] = time.time,
) -> StatusReport:
    """The status of ``env``: the checkpoint view (``local``) or the deployed mappings (``aws``).

    Replays and backfills keep their progress in the checkpoint table wherever they run, so
    they are shown from it in both views (``operations``).
    """
    thresholds = thresholds or Thresholds()
    report = StatusReport(env.name, view, clock())
    checkpoints = env.checkpoints()
    names = [c for c in checkpoints.consumers() if c != EPOCHS_PK]
    if view == "aws":
        from auxeira.operations.status_aws import collect_mappings

        collect_mappings(env, report, thresholds)
    else:
        live = sorted({*CONSUMERS, ARCHIVER, *_router_names(env), *(c for c in names if not _is_operation(c))})
        _ = env.dynamodb, env.streams, env.kinesis  # built once, before the threads share them
        # A few calls per shard, twenty-odd streams: read them side by side (boto3 clients are thread-safe).
        with ThreadPoolExecutor(max_workers=PROBES) as pool:
            report.consumers = list(
                pool.map(lambda c: _consumer(env, c, report.at, thresholds, cap, report.notes), live)
            )
    report.operations = [_operation(env, c, checkpoints.all(c)) for c in names if _is_operation(c)]
    report.dead_letters = {
        family: count_objects(env.objects, f"{LAKE.dead_letters}/{family}/") for family in _families()
    }
    report.warnings += [
        f"{n} dead letters of {family}: `auxeira dlq list --consumer {family}`"
        for family, n in report.dead_letters.items()
        if n
    ]
    report.stores = store_statuses(env)
    return report


# -- the checkpoint view ---------------------------------------------------------------


def _consumer(
    env: Environment, consumer: str, now: float, thresholds: Thresholds, cap: int, notes: list[str]
) -> ConsumerStatus:
    source, retention = _source_of(env, consumer)
    status = ConsumerStatus(consumer, "dynamodb" if consumer.startswith("router:") else "kinesis", "", retention)
    if source is None:
        notes.append(f"{consumer}: its table has no stream here")
        return status
    status.stream = source.arn
    saved = env.checkpoints().all(consumer)
    listed = source.shards()
    status.shards = [probe_shard(source, s.shard_id, s.parent_ids, saved.get(s.shard_id), cap) for s in listed]
    known = {s.shard_id for s in listed}
    status.shards += [_trimmed(cp) for shard, cp in sorted(saved.items()) if shard not in known]
    uuid = mapping_uuid(consumer, source.arn)
    status.failure_records = count_objects(env.failure_objects, env.mapping_failures_prefix(uuid))
    status.warnings = _warnings(status, now, thresholds)
    return status


def _warnings(status: ConsumerStatus, now: float, thresholds: Thresholds) -> list[str]:
    out: list[str] = []
    limit = thresholds.retention_warning_seconds(status.retention_hours)
    for shard in status.shards:
        where = f"{status.consumer} {shard.shard_id}"
        if shard.error:
            out.append(f"{where}: could not be read: {shard.error}")
        if not shard.listed and not shard.finished:
            out.append(
                f"{where}: trimmed from the stream before it was finished: rebuild (`auxeira backfill --table all`, then `auxeira verify --repair` for entries of items deleted meanwhile)"
            )
        if shard.oldest_unprocessed_at is None:
            continue
        behind = f"{'>= ' if shard.capped else ''}{shard.records_behind} records behind"
        waited = now - shard.oldest_unprocessed_at
        if waited > thresholds.lag_seconds:
            out.append(f"{where}: {behind}, the oldest waiting {span(waited)} (is `auxeira run` running?)")
        left = shard.oldest_unprocessed_at + status.retention_hours * 3600 - now
        if left <= 0:
            out.append(
                f"{where}: unprocessed records are past the stream's retention: rebuild (`auxeira backfill --table all`, then `auxeira verify --repair` for entries of items deleted meanwhile)"
            )
        elif left < limit:
            out.append(
                f"{where}: the oldest unprocessed record leaves the stream in {span(left)} "
                f"(retention {status.retention_hours:g} h): catch up, or rebuild afterwards (`auxeira backfill`)"
            )
    if status.failure_records:
        out.append(f"{status.consumer}: {status.failure_records} failure records: `auxeira dlq list`")
    return out


def _source_of(env: Environment, consumer: str) -> tuple[ShardSource | None, float]:
    """The stream a consumer reads and its retention in hours (a table's stream for ``router:*``)."""
    if consumer.startswith("router:"):
        table = consumer.partition(":")[2]
        try:
            arn = env.dynamodb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
        except env.dynamodb.exceptions.ResourceNotFoundException:
            arn = None
        return (DynamoStreamSource(env.streams, arn) if arn else None), DYNAMODB_STREAM_RETENTION_HOURS
    summary = env.kinesis.describe_stream_summary(StreamName=env.stream_name)["StreamDescriptionSummary"]
    return KinesisSource(env.kinesis, env.stream_name, env.clients.region), float(summary["RetentionPeriodHours"])


def _router_names(env: Environment) -> list[str]:
    """``router:{table}`` of every source table with a stream (the local runner's names)."""
    return [f"router:{env.table_name(spec)}" for spec in env.registry.source_tables if spec.stream_view]


def _is_operation(name: str) -> bool:
    """A replay (``replay:{projection}:...``) or a backfill (``backfill:{table}``), not a consumer."""
    return name.startswith(("replay:", "backfill:"))


def _operation(env: Environment, consumer: str, saved: dict[str, Checkpoint]) -> ConsumerStatus:
    """A replay's or backfill's progress: its checkpoint rows only (per shard, or per scan segment)."""
    shards = [_trimmed(cp, listed=True) for _, cp in sorted(saved.items())]
    return ConsumerStatus(consumer, "kinesis", env.stream_name, 0.0, shards)


def _trimmed(cp: Checkpoint, *, listed: bool = False) -> ShardLag:
    return ShardLag(cp.shard_id, (), cp.sequence_number, cp.finished, cp.owner, cp.lease_until_ms, listed=listed)


def _families() -> tuple[str, ...]:
    """Dead letters are filed under the handler's consumer: one ``router`` for every table."""
    return ("router", *CONSUMERS, ARCHIVER)
