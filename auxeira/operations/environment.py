"""One environment as the operations see it, on the local stack or on AWS alike.

Every on-call command (replay, backfill, dlq, status, verify, erase) takes an
:class:`Environment`: the clients, the names from the registry, the lake, and each
consumer's sink and handler, built the way the deployed functions build theirs, so an
operation applies events through exactly the code that runs live. The command line builds
it from the root options (``--env``, ``--profile``, ``--region``); tests build it from a
local runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from auxeira.runtime.checkpoints import Checkpoints
from auxeira.runtime.clients import CALLER_RETRIES, ClientFactory
from auxeira.runtime.dead_letters import DeadLetterStore
from auxeira.runtime.epochs import EpochGuard, EpochRecords
from auxeira.runtime.failure_records import FailureRecords
from auxeira.runtime.handlers import Handler
from auxeira.runtime.objects import ObjectStore, object_store
from auxeira.runtime.observability import BatchObserver
from schemas.resources import CHECKPOINTS_TABLE, COUNTERS_TABLE, LAKE, REGISTRY, Registry
from schemas.tables import TableSpec

__all__ = ["ARCHIVER", "CONSUMERS", "Environment"]

#: The consumers of the events stream an operation can drive, in the order they are listed.
CONSUMERS = ("cache", "search", "counters")
#: The raw archive's consumer: not a projection of state (nothing to verify or mark built),
#: but replayable from Kinesis like one (``auxeira replay --projection archive``).
ARCHIVER = "archiver"


@dataclass
class Environment:
    """What an operation needs of one environment.

    Attributes:
        name: the environment (``prod``, ``local``).
        clients: AWS clients (the local stack's endpoints, or a region and profile).
        lake_root: ``s3://bucket/prefix`` or a local directory.
        redis_url, redis_auth_token: the cache (None: the cache cannot be reached from here).
        opensearch_url: the search cluster; None with ``search_path`` for the embedded index.
        search_path: the embedded index file (local only).
        failures_root: the mappings' failure bucket (``s3://...``); None: the lake's
            ``failures/`` prefix, where the local runner writes them.
    """

    name: str
    clients: ClientFactory
    lake_root: str
    redis_url: str | None = None
    redis_auth_token: str | None = None
    opensearch_url: str | None = None
    search_path: str | None = None
    failures_root: str | None = None
    registry: Registry = REGISTRY
    _sinks: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    # -- clients and names ------------------------------------------------------------

    @cached_property
    def dynamodb(self) -> Any:
        return self.clients.client("dynamodb")

    @cached_property
    def streams(self) -> Any:
        return self.clients.client("dynamodbstreams")

    @cached_property
    def kinesis(self) -> Any:
        return self.clients.client("kinesis")

    @cached_property
    def s3(self) -> Any:
        return self.clients.client("s3")

    @property
    def stream_name(self) -> str:
        return self.registry.stream.physical_name(self.name)

    @property
    def checkpoint_table(self) -> str:
        return CHECKPOINTS_TABLE.physical_name(self.name)

    def table_name(self, spec: TableSpec) -> str:
        return spec.physical_name(self.name)

    def checkpoints(self) -> Checkpoints:
        return Checkpoints(self.dynamodb, self.checkpoint_table)

    # -- the lake -----------------------------------------------------------------------

    @cached_property
    def objects(self) -> ObjectStore:
        return object_store(self.lake_root, self.s3 if self.lake_root.startswith("s3://") else None)

    def dead_letters(self) -> DeadLetterStore:
        return DeadLetterStore(self.objects)

    def failure_records(self) -> FailureRecords:
        return FailureRecords(self.objects)

    @cached_property
    def failure_objects(self) -> ObjectStore:
        """Where the mappings' on-failure records are: the failure bucket, else the lake."""
        if not self.failures_root:
            return self.objects
        return object_store(self.failures_root, self.s3 if self.failures_root.startswith("s3://") else None)

    def mapping_failures_prefix(self, mapping_uuid: str) -> str:
        """The prefix of one mapping's on-failure records in :attr:`failure_objects`."""
        root = "" if self.failures_root else f"{LAKE.failures}/"
        return f"{root}aws/lambda/{mapping_uuid}/"

    # -- sinks and handlers, as the deployed functions build them ------------------------

    def sink(self, consumer: str) -> Any:
        """The sink of a consumer of the events stream (built once per environment)."""
        if consumer not in self._sinks:
            self._sinks[consumer] = self._build_sink(consumer)
        return self._sinks[consumer]

    def _build_sink(self, consumer: str) -> Any:
        if consumer == "cache":
            from consumers.sinks.redis_cache import RedisCacheSink

            if not self.redis_url:
                raise ValueError("no Redis configured for the cache: set AUXEIRA_REDIS_URL")
            return RedisCacheSink(url=self.redis_url, auth_token=self.redis_auth_token, namespace=self.name)
        if consumer == "search":
            if self.opensearch_url:
                from consumers.sinks.search_opensearch import OpenSearchSink

                return OpenSearchSink(self.clients.opensearch(self.opensearch_url), env=self.name)
            from consumers.sinks.search_embedded import EmbeddedSearchSink

            if self.search_path:
                return EmbeddedSearchSink(self.search_path)
            return EmbeddedSearchSink.for_lake(self.lake_root, env=self.name)
        if consumer == "counters":
            from consumers.sinks.counters_dynamo import DynamoCounterSink

            client = self.clients.client("dynamodb", config=CALLER_RETRIES)
            return DynamoCounterSink(client, COUNTERS_TABLE.physical_name(self.name))
        if consumer == ARCHIVER:
            from consumers.sinks.archive import ArchiveSink

            return ArchiveSink(self.objects)
        raise ValueError(f"no consumer {consumer!r}; choose one of {', '.join((*CONSUMERS, ARCHIVER))}")

    def handler(self, consumer: str, observer: BatchObserver | None = None, **options: Any) -> Handler:
        """The consumer's Lambda-shaped handler over this environment's sink and dead letters.

        Args:
            options: passed to the handler factory (a replay passes its shifted ``clock``,
                so a record's age counts from when the replay began).
        """
        from consumers.handlers import archiver, cache, counters, search

        sink, letters = self.sink(consumer), self.dead_letters()
        if consumer == ARCHIVER:
            # The archive has no epoch: its objects are named by what they hold, and a
            # record some object covers is stale whatever store wrote it.
            options.pop("epochs", None)
            return archiver.build_handler(sink, letters, observer=observer, **options)
        options.setdefault("epochs", EpochGuard(consumer, sink, EpochRecords(self.dynamodb, self.checkpoint_table)))
        if consumer == "cache":
            return cache.build_handler(sink, letters, observer=observer, **options)
        if consumer == "search":
            return search.build_handler(sink, letters, observer=observer, **options)
        return counters.build_handler(sink, letters, observer=observer, **options)

    def router(self, observer: BatchObserver | None = None) -> Handler:
        """The stream router's handler, writing to this environment's events stream."""
        from producers.handlers import router
        from producers.kinesis_writer import KinesisWriter

        writer = KinesisWriter(self.clients.client("kinesis", config=CALLER_RETRIES), self.stream_name)
        return router.build_handler(writer, self.dead_letters(), observer=observer)
