"""Consumer throughput: the real consumer code path against its ceiling and a naive baseline.

Run: ``.venv/bin/python -m bench.consumer_throughput [--events N]``. It starts its own
redis-server (never touches another), builds a realistic workload in memory
(``bench/workload.py``), and measures, in one process:

a. cache: Lambda-shaped Kinesis batches through ``consumers.handlers.cache`` (decode,
   validate, project, pipelined Lua CAS), the code that runs on AWS;
b. search: the same batches through the embedded search consumer;
c. counters: the counters planning step, counting the DynamoDB writes it would issue;
d. ceiling: the bare pipelined EVALSHA loop on the same keys, arguments prepared beforehand;
e. naive: a powertools ``BatchProcessor`` record handler issuing one Redis command per record.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import redis
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from hiredis import pack_command

from auxeira.runtime.bus import envelopes_of, kinesis_payload
from auxeira.runtime.dead_letters import LocalDeadLetters
from bench.workload import build_workload, to_kinesis_records
from consumers.handlers import cache as cache_handler
from consumers.handlers import search as search_handler
from consumers.projections import cache, counters
from consumers.projections.mutations import CacheSet
from consumers.sinks.redis_cache import CAS_SCRIPT, RedisCacheSink
from consumers.sinks.search_embedded import EmbeddedSearchSink
from infra.local.redis_server import start_redis, stop_redis
from schemas.resources import mapping

BATCH = 500  # records per Lambda invocation (the ESM's BatchSize)


def _batches(records: list[dict[str, Any]], size: int = BATCH):
    for start in range(0, len(records), size):
        yield {"Records": records[start : start + size]}


def _timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def bench_cache(records, url: str, dlq_root: Path) -> float:
    handle = cache_handler.build_handler(RedisCacheSink(url=url), LocalDeadLetters(dlq_root))

    def run() -> None:
        for event in _batches(records):
            if handle(event, None)["batchItemFailures"]:
                raise RuntimeError("cache batch reported failures")

    return _timed(run)


def bench_ceiling(envelopes, client: redis.Redis, ttl_ms: int) -> float:
    """The bare loop: commands packed beforehand, one write and N reads per batch.

    It uses the same transport as the sink (hiredis-packed EVALSHA, one ``sendall`` per
    batch), so the ratio to it measures what decoding, validation and projection cost.
    """
    sha = client.script_load(CAS_SCRIPT)
    packed = []
    for start in range(0, len(envelopes), BATCH):
        chunk = []
        for e in envelopes[start : start + BATCH]:
            m = cache.project(e)
            is_set = type(m) is CacheSet
            chunk.append(
                pack_command(
                    (
                        "EVALSHA",
                        sha,
                        "1",
                        m.redis_key,
                        f"{m.version:040d}",
                        "s" if is_set else "d",
                        m.state if is_set else b"",
                        str(ttl_ms),
                    )
                )
            )
        packed.append((b"".join(chunk), len(chunk)))
    conn = client.connection_pool.get_connection()

    def run() -> None:
        for data, count in packed:
            conn.send_packed_command([data], check_health=False)
            for _ in range(count):
                conn.read_response()

    try:
        return _timed(run)
    finally:
        client.connection_pool.release(conn)


def bench_naive(records, client: redis.Redis, ttl_ms: int) -> float:
    """One EVALSHA round trip per record: what a plain powertools record handler does."""
    sha = client.script_load(CAS_SCRIPT)

    def record_handler(record: Any) -> None:
        for e in envelopes_of(kinesis_payload(record)):
            m = cache.project(e)
            is_set = type(m) is CacheSet
            client.evalsha(
                sha, 1, m.redis_key, f"{m.version:040d}", "s" if is_set else "d", m.state if is_set else b"", ttl_ms
            )

    def run() -> None:
        for event in _batches(records):
            processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
            process_partial_response(event=event, record_handler=record_handler, processor=processor)

    return _timed(run)


def bench_search(records, root: Path) -> tuple[float, dict[str, int]]:
    sink = EmbeddedSearchSink(root / "search.db")
    handle = search_handler.build_handler(sink, LocalDeadLetters(root / "dlq"))

    def run() -> None:
        for event in _batches(records, mapping("search").batch_size):
            if handle(event, None)["batchItemFailures"]:
                raise RuntimeError("search batch reported failures")

    seconds = _timed(run)
    stats = dataclasses.asdict(sink.stats)
    sink.close()
    return seconds, stats


def counter_writes(envelopes, shards: int = 4) -> int:
    """UpdateItems the counters consumer would issue, with its deployed batch size.

    Envelopes are spread over ``shards`` by key as Kinesis would; each shard is cut into
    batches of the counters mapping's BatchSize, and each batch is planned on its own.
    """
    by_shard: dict[int, list] = {}
    for n, e in enumerate(envelopes):
        by_shard.setdefault(hash((e.tenant_id, e.entity, e.key)) % shards, []).append((f"s{n % shards}", n, e))
    size = mapping("counters").batch_size
    writes = 0
    for shard, items in by_shard.items():
        for start in range(0, len(items), size):
            batch = [(f"shardId-{shard:012d}", f"{n:056d}", e) for _, n, e in items[start : start + size]]
            writes += len(counters.plan(batch))
    return writes


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--entities", type=int, default=20_000)
    args = parser.parse_args(argv)
    out = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    out(f"building {args.events} envelopes over {args.entities} entities ...")
    workload = build_workload(args.events, args.entities)
    records = to_kinesis_records(workload.payloads)
    out(f"mean envelope {workload.mean_bytes:.0f} B")
    # The workload (hundreds of thousands of live dicts) would otherwise be traversed by
    # every full garbage collection, a cost a Lambda holding one batch never pays.
    gc.collect()
    gc.freeze()
    ttl_ms = 7 * 86400 * 1000
    with tempfile.TemporaryDirectory() as tmp:
        server = start_redis(Path(tmp))
        try:
            client = redis.Redis.from_url(server.url)
            results: dict[str, float] = {}
            client.flushdb()
            results["cache"] = bench_cache(records, server.url, Path(tmp) / "dlq")
            out(f"(a) cache      {args.events / results['cache']:>10,.0f} events/s")
            client.flushdb()
            results["ceiling"] = bench_ceiling(workload.envelopes, client, ttl_ms)
            out(f"(d) ceiling    {args.events / results['ceiling']:>10,.0f} events/s")
            client.flushdb()
            results["naive"] = bench_naive(records, client, ttl_ms)
            out(f"(e) naive      {args.events / results['naive']:>10,.0f} events/s")
        finally:
            stop_redis(server)
        results["search"], search_stats = bench_search(records, Path(tmp) / "search")
        out(f"(b) search     {args.events / results['search']:>10,.0f} events/s  {search_stats}")
    writes = counter_writes(workload.envelopes)
    out(f"(c) counters   {writes} UpdateItems for {args.events} events")
    cache_eps = args.events / results["cache"]
    ceiling_eps = args.events / results["ceiling"]
    naive_eps = args.events / results["naive"]
    line = {
        "bench": "consumer_throughput",
        "events": args.events,
        "cache_eps": round(cache_eps),
        "cas_ceiling_eps": round(ceiling_eps),
        "cache_vs_ceiling": round(cache_eps / ceiling_eps, 3),
        "naive_cache_eps": round(naive_eps),
        "cache_speedup": round(cache_eps / naive_eps, 1),
        "search_eps": round(args.events / results["search"]),
        "counter_writes_per_1k_events": round(writes * 1000 / args.events, 1),
    }
    print(orjson.dumps(line).decode(), flush=True)
    return line


if __name__ == "__main__":
    main()
