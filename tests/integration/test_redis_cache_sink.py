"""The Redis cache sink against real redis-servers: outages, lost scripts, wide versions."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from auxeira.runtime.sinks import APPLIED, STALE
from consumers.projections.mutations import CacheDelete, CacheSet
from consumers.sinks import RedisCacheSink
from consumers.sinks.cache_base import encode_version
from consumers.sinks.redis_cache import CAS_SCRIPT
from infra.local.redis_server import RedisProcess, free_port, start_redis, stop_redis
from schemas.errors import RetryableSinkError

pytestmark = pytest.mark.integration

SHA = hashlib.sha1(CAS_SCRIPT.encode()).hexdigest()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of this test alone: it may be killed or have its scripts flushed."""
    try:
        server = start_redis(tmp_path)
    except FileNotFoundError:
        pytest.skip("no redis-server binary")
    try:
        yield server
    finally:
        stop_redis(server)


@pytest.fixture
def shared(redis_server: str) -> Iterator[tuple[redis.Redis, str]]:
    """A client of the session's Redis and a fresh tenant whose keys are deleted after."""
    client = redis.Redis.from_url(redis_server)
    tenant = f"test-{uuid.uuid4().hex[:12]}"
    try:
        yield client, tenant
    finally:
        keys = list(client.scan_iter(match=f"aux:{tenant}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def put(key: str, version: int) -> CacheSet:
    return CacheSet(key, version, orjson.dumps({"version": str(version)}))


def test_nothing_listening_raises_retryable_with_the_cause_chained() -> None:
    # GIVEN a sink pointed at a port where nothing listens
    sink = RedisCacheSink(url=f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    # WHEN it applies a batch, reads or scans
    # THEN each raises RetryableSinkError caused by redis' ConnectionError, and quickly
    with pytest.raises(RetryableSinkError) as caught:
        sink.apply([put("aux:t:e:1", 1)])
    assert isinstance(caught.value.__cause__, redis.ConnectionError)
    with pytest.raises(RetryableSinkError):
        sink.get("aux:t:e:1")
    with pytest.raises(RetryableSinkError):
        list(sink.scan_keys("t"))
    assert time.monotonic() - started < 5


def test_a_server_killed_between_batches_raises_retryable(private_redis: RedisProcess) -> None:
    # GIVEN a sink that has applied a batch over a live connection
    sink = RedisCacheSink(url=private_redis.url)
    assert sink.apply([put("aux:t:e:1", 1)]) == [APPLIED]
    # WHEN the server dies
    private_redis.process.kill()
    private_redis.process.wait()
    # THEN the next batch raises RetryableSinkError, not a redis exception
    with pytest.raises(RetryableSinkError) as caught:
        sink.apply([put("aux:t:e:1", 2)])
    assert isinstance(caught.value.__cause__, redis.ConnectionError)


def test_noscript_after_script_flush_is_recovered(private_redis: RedisProcess) -> None:
    # GIVEN a sink that has loaded its script
    client = redis.Redis.from_url(private_redis.url)
    sink = RedisCacheSink(client)
    assert sink.apply([put("aux:t:e:1", 1)]) == [APPLIED]
    # WHEN Redis forgets every script (as after a restart or failover)
    client.script_flush()
    assert client.script_exists(SHA) == [False]
    # THEN the next batch applies as if nothing happened, flags and all
    assert sink.apply([put("aux:t:e:1", 2), put("aux:t:e:1", 2), CacheDelete("aux:t:e:2", 1)]) == [
        APPLIED,
        STALE,
        APPLIED,
    ]
    assert sink.get("aux:t:e:1").version == 2  # type: ignore[union-attr]
    assert client.script_exists(SHA) == [True]
    client.close()


def test_versions_compare_numerically_at_every_width(shared: tuple[redis.Redis, str]) -> None:
    client, tenant = shared
    sink = RedisCacheSink(client)
    key = f"aux:{tenant}:startup:1"
    # GIVEN a 19-digit version, then a 20-digit one (as strings, "9..." > "1...")
    assert sink.apply([put(key, 10**19 - 1), put(key, 10**19 + 1)]) == [APPLIED, APPLIED]
    # WHEN the 19-digit one, and one just below the 20-digit one, arrive again
    # THEN both are stale
    assert sink.apply([put(key, 10**19 - 1), put(key, 10**19)]) == [STALE, STALE]
    # AND versions a double cannot tell apart (2^53 + 1 vs 2^53) still order exactly
    other = f"aux:{tenant}:startup:2"
    assert sink.apply([put(other, 2**53 + 1), put(other, 2**53)]) == [APPLIED, STALE]
    # AND a 40-digit DynamoDB-style sequence number outranks them all
    seq = int("4" * 40)
    assert sink.apply([CacheDelete(key, seq), put(key, seq - 1)]) == [APPLIED, STALE]
    stored = client.hget(key, "v")
    assert stored == encode_version(seq).encode() and len(stored) == 60


def test_a_foreign_value_under_a_cache_key_is_retryable(shared: tuple[redis.Redis, str]) -> None:
    # GIVEN a plain string where the cache expects a hash
    client, tenant = shared
    client.set(f"aux:{tenant}:startup:1", "not a hash")
    # WHEN the sink writes there THEN it raises RetryableSinkError naming the key
    with pytest.raises(RetryableSinkError, match=f"aux:{tenant}:startup:1"):
        RedisCacheSink(client).apply([put(f"aux:{tenant}:startup:1", 1)])
