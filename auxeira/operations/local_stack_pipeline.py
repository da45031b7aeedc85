"""Wiring of the pipeline on a local stack: provision, build handlers, build mappings.

Shared by ``auxeira demo``, ``auxeira run`` and the integration tests, so all three
exercise the same assembly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auxeira.runtime.checkpoints import Checkpoints
from auxeira.runtime.dead_letters import DeadLetterStore, LocalDeadLetters
from auxeira.runtime.epochs import EpochGuard, EpochRecords
from auxeira.runtime.failure_records import FailureRecords
from auxeira.runtime.local_pipeline import LocalPipeline, consumer_mapping, router_mappings
from auxeira.runtime.objects import LocalObjects
from auxeira.runtime.observability import BatchObserver
from consumers.handlers import archiver as archiver_handler
from consumers.handlers import cache as cache_handler
from consumers.handlers import counters as counters_handler
from consumers.handlers import search as search_handler
from consumers.sinks.archive import ArchiveSink
from consumers.sinks.counters_dynamo import DynamoCounterSink
from consumers.sinks.redis_cache import RedisCacheSink
from consumers.sinks.search_base import SearchSink
from consumers.sinks.search_embedded import EmbeddedSearchSink
from infra.local.provision import provision_stream, provision_tables
from infra.local.stack import Endpoints
from producers.handlers import router as router_handler
from producers.kinesis_writer import KinesisWriter
from schemas.catalog import TABLES
from schemas.resources import CHECKPOINTS_TABLE, COUNTERS_TABLE, REGISTRY
from schemas.tables import TableSpec

__all__ = ["LocalRuntime", "build_pipeline", "provision"]


@dataclass
class LocalRuntime:
    """Clients and names of one environment on a running local stack."""

    endpoints: Endpoints
    env: str
    stream_name: str
    checkpoint_table: str
    stream_arns: dict[str, str]
    lake_root: str
    tables: tuple[TableSpec, ...] = TABLES
    #: The embedded search index's file (the stack's state dir); None: under the lake root.
    search_path: str | None = None

    def __post_init__(self) -> None:
        self.dynamodb: Any = self.endpoints.dynamodb_client()
        self.streams: Any = self.endpoints.dynamodbstreams_client()
        self.kinesis: Any = self.endpoints.kinesis_client()

    @property
    def checkpoints(self) -> Checkpoints:
        return Checkpoints(self.dynamodb, self.checkpoint_table)

    def dead_letters(self) -> DeadLetterStore:
        return LocalDeadLetters(self.lake_root)

    def failure_records(self) -> FailureRecords:
        return FailureRecords(LocalObjects(self.lake_root))

    def counter_sink(self) -> DynamoCounterSink:
        return DynamoCounterSink(self.dynamodb, COUNTERS_TABLE.physical_name(self.env))

    def cache_sink(self) -> RedisCacheSink:
        """The stack's Redis, with this environment's key namespace."""
        return RedisCacheSink(url=self.endpoints.redis_url, namespace=self.env)

    def search_sink(self) -> EmbeddedSearchSink:
        if self.search_path:
            return EmbeddedSearchSink(self.search_path)
        return EmbeddedSearchSink.for_lake(self.lake_root, env=self.env)


def provision(
    endpoints: Endpoints,
    env: str,
    lake_root: str,
    shard_count: int = 2,
    tables: tuple[TableSpec, ...] = TABLES,
    search_path: str | Path | None = None,
) -> LocalRuntime:
    """Create (or find) the tables, checkpoint table and events stream of ``env``."""
    stream_name = REGISTRY.stream.physical_name(env)
    checkpoint_table = CHECKPOINTS_TABLE.physical_name(env)
    dynamodb = endpoints.dynamodb_client()
    provisioned = provision_tables(dynamodb, env, source_tables=tables)
    provision_stream(endpoints.kinesis_client(), env, shard_count=shard_count)
    return LocalRuntime(
        endpoints,
        env,
        stream_name,
        checkpoint_table,
        provisioned.stream_arns,
        lake_root,
        tables,
        None if search_path is None else str(search_path),
    )


def build_pipeline(
    runtime: LocalRuntime,
    cache_sink: RedisCacheSink | None = None,
    checkpoints: Checkpoints | None = None,
    counter_sink: DynamoCounterSink | None = None,
    search_sink: SearchSink | None = None,
    observer: BatchObserver | None = None,
    lease_seconds: float = 30.0,
) -> LocalPipeline:
    """Router mappings for every table stream plus one mapping per consumer.

    Every handler reports its batches to ``observer`` (``auxeira run`` sums them per
    consumer with a :class:`~auxeira.runtime.observability.StatsObserver`).
    """
    checkpoints = checkpoints or runtime.checkpoints
    dead_letters = runtime.dead_letters()
    failures = runtime.failure_records()
    router = router_handler.build_handler(
        KinesisWriter(runtime.kinesis, runtime.stream_name), dead_letters, observer=observer
    )
    # Each store's epoch check, as the deployed consumers run it: a store that lost its state is noticed.
    records = EpochRecords(runtime.dynamodb, runtime.checkpoint_table)
    sink = cache_sink or runtime.cache_sink()
    cache = cache_handler.build_handler(
        sink, dead_letters, observer=observer, epochs=EpochGuard("cache", sink, records)
    )
    mappings = router_mappings(runtime.streams, runtime.stream_arns, router, checkpoints, failures)
    tally = counter_sink or runtime.counter_sink()
    counters = counters_handler.build_handler(
        tally, dead_letters, observer=observer, epochs=EpochGuard("counters", tally, records)
    )
    index = search_sink or runtime.search_sink()
    search = search_handler.build_handler(
        index,
        dead_letters,
        observer=observer,
        epochs=EpochGuard("search", index, records),  # type: ignore[arg-type]
    )
    # The raw archive, in the lake root like the dead letters (its own checkpoints).
    archiver = archiver_handler.build_handler(
        ArchiveSink(LocalObjects(runtime.lake_root)), dead_letters, observer=observer
    )
    consumers = (
        (cache_handler.CONSUMER, cache),
        (search_handler.CONSUMER, search),
        (counters_handler.CONSUMER, counters),
        (archiver_handler.CONSUMER, archiver),
    )
    for name, handler in consumers:
        mappings.append(
            consumer_mapping(
                runtime.kinesis, runtime.stream_name, name, handler, checkpoints, failures, runtime.endpoints.region
            )
        )
    for esm in mappings:
        esm.lease_seconds = lease_seconds
    return LocalPipeline(mappings)
