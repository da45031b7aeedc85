"""The faults the drills inject, each as the pipeline would meet it.

* :class:`FaultyCache` / :class:`FaultySearch`: a bad release of the cache and search
  consumers whose text handling chokes on characters beyond ASCII (a file name pasted from
  a word processor): the real sinks, refusing those entries as poison, so the handler
  dead-letters exactly those records with their payload and applies the rest. The fix is
  the next release, the sinks as they are, which is what ``auxeira dlq redrive`` runs.
* :class:`TrimmedSource`: a Kinesis shard source that no longer holds what arrived before a
  horizon, as a stream that trimmed them past retention (kinesis-mock cannot be set below
  AWS's 24 hours, and never trims).
* :class:`PrivateRedis`: a redis-server of the drill's own, on a fixed port, that can be
  stopped and started again empty (it keeps nothing on disk), so the session's Redis,
  which other tests use, is never stopped or flushed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from redis import Redis

from auxeira.operations.local_stack_pipeline import LocalRuntime
from auxeira.runtime.batch import record_time
from auxeira.runtime.mapping_runner import LocalEventSourceMapping
from auxeira.runtime.shard_sources import KinesisSource, ReadResult, Shard, ShardSource
from bench.drill_stage import wait_for
from bench.drill_workload import is_poison_text
from consumers.handlers import cache as cache_handler
from consumers.handlers import search as search_handler
from consumers.projections.mutations import CacheSet
from consumers.projections.search import UpsertDoc
from consumers.sinks.redis_cache import RedisCacheSink
from consumers.sinks.search_embedded import EmbeddedSearchSink
from infra.local.processes import ProcessRecord, executable, free_port, start_process, stop_process
from schemas.errors import PoisonRecordError
from schemas.resources import mapping

__all__ = ["FaultyCache", "FaultySearch", "PrivateRedis", "TrimmedSource", "Twin", "refused_texts"]

BUG = "release 2.4.0 text normalizer: cannot encode {what!r}"


def refused_texts(value: Any) -> list[str]:
    """The strings anywhere in ``value`` the faulty release refuses."""
    if isinstance(value, str):
        return [value] if is_poison_text(value) else []
    if isinstance(value, dict):
        return [t for v in value.values() for t in refused_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in refused_texts(v)]
    return []


def _split(mutations: Sequence[Any], refused: Any) -> tuple[list[Any], dict[int, PoisonRecordError]]:
    """(the mutations the release applies, poison outcome by position for the ones it refuses)."""
    bad = {i: PoisonRecordError(BUG.format(what=texts[0])) for i, m in enumerate(mutations) if (texts := refused(m))}
    return [m for i, m in enumerate(mutations) if i not in bad], bad


def _merge(count: int, applied: list[Any], bad: dict[int, PoisonRecordError]) -> list[Any]:
    rest = iter(applied)
    return [bad[i] if i in bad else next(rest) for i in range(count)]


class FaultyCache(RedisCacheSink):
    """The cache sink of the faulty release."""

    def apply(self, mutations: Sequence[Any]) -> list[Any]:
        good, bad = _split(mutations, lambda m: isinstance(m, CacheSet) and refused_texts(orjson.loads(m.state)))
        return _merge(len(mutations), super().apply(good) if good else [], bad)


class FaultySearch(EmbeddedSearchSink):
    """The search sink of the faulty release."""

    def apply(self, mutations: Sequence[Any]) -> list[Any]:
        good, bad = _split(mutations, lambda m: isinstance(m, UpsertDoc) and refused_texts(m.body))
        return _merge(len(mutations), super().apply(good) if good else [], bad)


@dataclass
class TrimmedSource:
    """``source`` less every record that arrived before ``horizon`` (epoch seconds)."""

    source: ShardSource
    horizon: float
    hidden: int = 0

    @property
    def event_source(self) -> str:
        return self.source.event_source

    @property
    def arn(self) -> str:
        return self.source.arn

    def shards(self) -> list[Shard]:
        return self.source.shards()

    def iterator(self, shard_id: str, after: str | None) -> str:
        return self.source.iterator(shard_id, after)

    def read(self, shard_id: str, iterator: str, limit: int) -> ReadResult:
        found = self.source.read(shard_id, iterator, limit)
        kept = [r for r in found.records if (record_time(r) or 0.0) >= self.horizon]
        self.hidden += len(found.records) - len(kept)
        return ReadResult(kept, found.next_iterator, found.millis_behind)


@dataclass
class PrivateRedis:
    """A redis-server on a port of its own, started and stopped by the drill (never anyone else's)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    record: ProcessRecord | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        argv = [executable("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--set-proc-title", "no"]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.record = start_process("redis", argv, state_dir=self.workdir, port=self.port, cwd=self.workdir)
        client = Redis.from_url(self.url, socket_connect_timeout=0.5)
        wait_for("the drill's redis-server", lambda: _pong(client), timeout=15)
        return self

    def stop(self) -> None:
        if self.record is not None:
            stop_process(self.record)
            self.record = None


def _pong(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # not up yet
        return False


@dataclass
class Twin:
    """A fault-free copy of the cache and search consumers, fed by the same stream: the control group.

    Its entries carry the same orders as the faulted ones (same records), under the cache
    namespace ``{env}-twin`` and an index file of its own, so a snapshot of each compares
    key by key (:mod:`bench.drill_snapshots`).
    """

    runtime: LocalRuntime

    @property
    def namespace(self) -> str:
        return f"{self.runtime.env}-twin"

    @property
    def search_path(self) -> str:
        return str(Path(self.runtime.search_path or "search.db").with_name("twin.db"))

    def mappings(self) -> list[LocalEventSourceMapping]:
        rt = self.runtime
        letters = rt.dead_letters()
        sinks = {
            "cache": (cache_handler, RedisCacheSink(url=rt.endpoints.redis_url, namespace=self.namespace)),
            "search": (search_handler, EmbeddedSearchSink(self.search_path)),
        }
        return [
            LocalEventSourceMapping(
                source=KinesisSource(rt.kinesis, rt.stream_name, rt.endpoints.region),
                handler=module.build_handler(sink, letters, consumer=f"{name}:twin"),
                checkpoints=rt.checkpoints,
                consumer=f"{name}:twin",
                spec=mapping(name),
                failures=rt.failure_records(),
            )
            for name, (module, sink) in sinks.items()
        ]
