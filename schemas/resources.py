"""The resource registry: every table, stream, lake location and event source mapping,
declared once.

Two renderers read it and nothing else declares a resource: ``infra.local.provision``
creates the local stack's tables and stream from it, and ``infra.cloudformation``
renders the deployed ones. The local event source mapping runner reads the same
:class:`MappingSpec` as the deployed ``AWS::Lambda::EventSourceMapping``, so batch
sizes, retries, record age and the on-failure destination behave alike on both.

Why the mapping settings are what they are
------------------------------------------
* Every mapping reports batch item failures (``ReportBatchItemFailures``): the
  handlers report exactly the records that failed, and Lambda restarts the shard at
  the lowest of them.
* Retries are finite and record age is bounded (neither is ever ``-1``). A record
  that keeps failing for a *retryable* reason (a sink is down) is retried with backoff
  until it is :attr:`MappingSpec.maximum_record_age_seconds` old; the handler then
  dead-letters it itself, with its cause and its secrets redacted (see
  ``auxeira.runtime.handlers``). ``maximum_retry_attempts`` is the backstop above
  that: the handler pauses between failed attempts so the attempts last longer than
  the record age. Lambda's on-failure destination (S3, which keeps the payload)
  receives only what the handler could not report itself: a crash, a timeout.
* ``BisectBatchOnFunctionError``: a handler that crashes on a batch gets it split, so
  one record that kills the process is isolated instead of failing its neighbours.
* ``counters`` reads each shard in order (``ParallelizationFactor: 1``): its
  exactly-once guard is a per-shard sequence watermark on each counter item.
* ``cache`` and ``search`` are version-guarded per key, so they may read a shard with
  several concurrent batches (Lambda keeps one partition key in one batch stream).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from schemas import catalog
from schemas.tables import Gsi, KeyStyle, TableSpec

__all__ = [
    "CHECKPOINTS_TABLE",
    "COUNTERS_TABLE",
    "EVENTS_STREAM",
    "HISTORY_TABLE",
    "INTERNAL_TABLES",
    "LAKE",
    "MAPPINGS",
    "REGISTRY",
    "LakeLayout",
    "MappingSpec",
    "Registry",
    "StreamSpec",
    "mapping",
]

#: Lambda's limit on ``MaximumRecordAgeInSeconds`` (services-kinesis-parameters).
MAX_RECORD_AGE_LIMIT = 604_800
#: Lambda's limit on ``MaximumRetryAttempts``.
MAX_RETRY_ATTEMPTS_LIMIT = 10_000


# -- the pipeline's own tables (no stream: their writes must not loop back) --------------

#: Checkpoints and leases of the local runner and of replay: ``PK = consumer``, ``SK = shard``.
CHECKPOINTS_TABLE = TableSpec(name="checkpoints", style=KeyStyle.PK_SK, entities=(), stream_view=None)
#: Denormalized counters: ``PK = tenant#PARENT#id``; a keys-only index finds a parent in
#: any tenant (its attributes are written once, so counter updates do not touch it).
COUNTERS_TABLE = TableSpec(
    name="counters",
    style=KeyStyle.PLAIN,
    entities=(),
    hash_key="PK",
    range_key=None,
    stream_view=None,
    gsis=(Gsi("ParentKeyIndex", ("parent_key", "S"), ("tenant_id", "S"), projection="KEYS_ONLY"),),
)
#: Item history, written in the same transaction as each change (``producers.history_items``).
HISTORY_TABLE = TableSpec(name="history", style=KeyStyle.PK_SK, entities=(), stream_view=None)

INTERNAL_TABLES: tuple[TableSpec, ...] = (CHECKPOINTS_TABLE, COUNTERS_TABLE, HISTORY_TABLE)


@dataclass(frozen=True)
class StreamSpec:
    """The Kinesis events stream every router and publisher writes and every consumer reads."""

    name: str = "events"
    physical: str = "auxeira-events-{env}"
    #: Shards of the local stack's stream, and of a provisioned stream on AWS.
    shard_count: int = 2
    #: How long Kinesis keeps a record (24 h is the default; up to 8760).
    retention_hours: int = 24

    def physical_name(self, env: str) -> str:
        return self.physical.format(env=env)


@dataclass(frozen=True)
class LakeLayout:
    """Where things live under the lake root (a directory here, ``s3://bucket/prefix`` on AWS).

    Attributes:
        raw: the archiver's raw events (``raw/events/dt=YYYY-MM-DD/hour=HH/``).
        dead_letters: the handlers' payload-bearing dead letters (``dlq/{consumer}/dt=.../``).
        failures: the event source mappings' on-failure records, in the S3 shape Lambda
            writes (``failures/aws/lambda/{mapping}/{shard}/YYYY/MM/DD/...``).
        redriven: dead letters and failure records after a redrive, with their outcome.
        curated, current: the Glue jobs' Parquet tables.
        state: the lake jobs' own bookkeeping (processed objects).
        erasures: the right to be forgotten's own records: the erasure ledger (keyed
            hashes of erased subjects and items, read by replay and redrive), the
            hash-chained erasure records, and the plans of erasures in progress.
    """

    raw: str = "raw/events"
    dead_letters: str = "dlq"
    failures: str = "failures"
    redriven: str = "redriven"
    curated: str = "curated"
    current: str = "current"
    state: str = "_state"
    erasures: str = "_erasures"


@dataclass(frozen=True)
class MappingSpec:
    """One Lambda event source mapping: what the local runner and CloudFormation both obey.

    Attributes:
        consumer: the consumer's name (checkpoints, dead letters and metrics carry it).
        handler: the Lambda entry point.
        source: ``kinesis`` (the events stream) or ``dynamodb`` (every table stream).
        maximum_retry_attempts: deliveries of a failing record before it is discarded
            to the on-failure destination (finite; the backstop, see the module doc).
        maximum_record_age_seconds: a record older than this is given up: the handler
            dead-letters it with its cause, or the mapping discards it to the
            on-failure destination.
        on_failure: where discarded batches go: the lake's ``failures`` location (S3).
    """

    consumer: str
    handler: str
    source: Literal["kinesis", "dynamodb"]
    batch_size: int
    parallelization_factor: int = 1
    maximum_batching_window_seconds: int = 1
    maximum_retry_attempts: int = 10_000
    maximum_record_age_seconds: int = 6 * 3600
    bisect_batch_on_function_error: bool = True
    starting_position: Literal["TRIM_HORIZON", "LATEST"] = "TRIM_HORIZON"
    report_batch_item_failures: bool = True
    on_failure: Literal["s3"] = "s3"
    #: Reserved concurrency of the function, where one ordered reader matters (None: unreserved).
    reserved_concurrency: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError(f"{self.consumer}: BatchSize must be 1..10000")
        if not 1 <= self.parallelization_factor <= 10:
            raise ValueError(f"{self.consumer}: ParallelizationFactor must be 1..10")
        if not 0 <= self.maximum_retry_attempts <= MAX_RETRY_ATTEMPTS_LIMIT:
            raise ValueError(f"{self.consumer}: MaximumRetryAttempts must be finite, 0..10000")
        if not 60 <= self.maximum_record_age_seconds <= MAX_RECORD_AGE_LIMIT:
            raise ValueError(f"{self.consumer}: MaximumRecordAgeInSeconds must be finite, 60..604800")

    @property
    def logical_name(self) -> str:
        """CamelCase name for resources (``Counters``, ``Router``)."""
        return "".join(part.capitalize() for part in self.consumer.replace("_", "-").split("-"))


MAPPINGS: tuple[MappingSpec, ...] = (
    MappingSpec("router", "producers.handlers.router.handler", "dynamodb", batch_size=100),
    MappingSpec("cache", "consumers.handlers.cache.handler", "kinesis", batch_size=500, parallelization_factor=2),
    MappingSpec("search", "consumers.handlers.search.handler", "kinesis", batch_size=500, parallelization_factor=2),
    # Large batches: one UpdateItem per counter item per batch, so bigger batches coalesce
    # more (2,500 records of ~1 KB stay well under Lambda's 6 MB invocation payload).
    MappingSpec(
        "counters",
        "consumers.handlers.counters.handler",
        "kinesis",
        batch_size=2500,
        parallelization_factor=1,
        maximum_batching_window_seconds=5,
    ),
    # The raw archive: each shard read in order (its exactly-once rule needs a batch to
    # hold every record of its shard between its first and last), big batches and a
    # minute's window, so an hour's folder holds tens of objects per shard, not thousands.
    MappingSpec(
        "archiver",
        "consumers.handlers.archiver.handler",
        "kinesis",
        batch_size=2500,
        parallelization_factor=1,
        maximum_batching_window_seconds=60,
    ),
)


@dataclass(frozen=True)
class Registry:
    """Everything the pipeline provisions, in one value."""

    source_tables: tuple[TableSpec, ...] = catalog.TABLES
    internal_tables: tuple[TableSpec, ...] = INTERNAL_TABLES
    stream: StreamSpec = field(default_factory=StreamSpec)
    lake: LakeLayout = field(default_factory=LakeLayout)
    mappings: tuple[MappingSpec, ...] = MAPPINGS

    @property
    def tables(self) -> tuple[TableSpec, ...]:
        return (*self.source_tables, *self.internal_tables)

    def mapping(self, consumer: str) -> MappingSpec:
        for spec in self.mappings:
            if spec.consumer == consumer:
                return spec
        raise KeyError(
            f"no event source mapping for consumer {consumer!r}; known: {', '.join(m.consumer for m in self.mappings)}"
        )


REGISTRY = Registry()
EVENTS_STREAM = REGISTRY.stream
LAKE = REGISTRY.lake


def mapping(consumer: str) -> MappingSpec:
    """The mapping spec of a consumer (``router``, ``cache``, ``search``, ``counters``)."""
    return REGISTRY.mapping(consumer)
