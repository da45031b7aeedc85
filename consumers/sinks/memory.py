"""An in-memory cache sink with the Redis sink's semantics, for tests without a server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import orjson

from auxeira.runtime.sinks import APPLIED, STALE, Outcome
from consumers.projections.cache import tenant_prefix
from consumers.projections.mutations import MAX_VERSION, CacheDelete, CacheMutation, CacheSet
from consumers.sinks.cache_base import CachedEntry

__all__ = ["InMemoryCacheSink"]


@dataclass(frozen=True, slots=True)
class _Stored:
    version: int
    state: bytes | None  # None marks a tombstone
    expires_at: float | None


class InMemoryCacheSink:
    """Cache sink backed by a dict; same version rules and tombstone TTL as Redis.

    Args:
        tombstone_ttl_seconds: how long a delete's tombstone is kept.
        clock: seconds, monotonic; inject one to make tombstones expire in a test.
    """

    def __init__(
        self,
        *,
        tombstone_ttl_seconds: int = 7 * 86400,
        clock: Callable[[], float] = time.monotonic,
        namespace: str = "local",
    ):
        self.namespace = namespace
        if tombstone_ttl_seconds <= 0:
            raise ValueError("tombstone_ttl_seconds must be positive")
        self._ttl = float(tombstone_ttl_seconds)
        self._clock = clock
        self._data: dict[str, _Stored] = {}

    def apply(self, mutations: Sequence[CacheMutation]) -> list[Outcome]:
        """Apply mutations in order; APPLIED or STALE per mutation (see ``CacheSink``).

        Like the Redis sink, it checks the whole batch before writing any of it.
        """
        for m in mutations:
            _check(m)
        return [self._apply_one(m) for m in mutations]

    def get(self, redis_key: str) -> CachedEntry | None:
        """The entry under a key (state decoded), or None if there is none."""
        stored = self._live(redis_key)
        if stored is None:
            return None
        ttl_ms = None
        if stored.expires_at is not None:
            ttl_ms = max(0, int((stored.expires_at - self._clock()) * 1000))
        return CachedEntry(
            version=stored.version,
            state=None if stored.state is None else orjson.loads(stored.state),
            tombstone=stored.state is None,
            ttl_ms=ttl_ms,
        )

    def forget_tombstone(self, redis_key: str) -> bool:
        """Delete the entry under ``redis_key`` if it is a tombstone (``Erasable``)."""
        stored = self._live(redis_key)
        if stored is None or stored.state is not None:
            return False
        del self._data[redis_key]
        return True

    def scan_keys(self, tenant: str | None = None) -> Iterator[str]:
        """Every unexpired cache key (of one tenant)."""
        prefix = tenant_prefix(self.namespace, tenant)
        return iter([k for k in list(self._data) if k.startswith(prefix) and self._live(k)])

    def _apply_one(self, m: CacheMutation) -> Outcome:
        current = self._live(m.redis_key)
        if current is not None and current.version >= m.version:
            return STALE
        if type(m) is CacheSet:
            self._data[m.redis_key] = _Stored(m.version, m.state, None)
        else:
            self._data[m.redis_key] = _Stored(m.version, None, self._clock() + self._ttl)
        return APPLIED

    def _live(self, redis_key: str) -> _Stored | None:
        """The stored value, dropping it first if its TTL has passed (as Redis does lazily)."""
        stored = self._data.get(redis_key)
        if stored is None or stored.expires_at is None or stored.expires_at > self._clock():
            return stored
        del self._data[redis_key]
        return None


def _check(m: CacheMutation) -> None:
    if type(m) is not CacheSet and type(m) is not CacheDelete:
        raise TypeError(f"not a cache mutation: {m!r}")
    if not 0 <= m.version <= MAX_VERSION:
        raise ValueError(f"{m.redis_key}: version {m.version} is outside 0..{MAX_VERSION}")
