"""What every cache sink offers, so one test suite runs against each of them.

Semantics both sinks implement (the Redis one in Lua, the in-memory one in Python):

* a mutation applies only if its version is strictly greater than the stored one,
  tombstones included, so duplicates and stale arrivals are no-ops;
* a :class:`CacheDelete` leaves a tombstone (version, no state) that expires after
  the sink's tombstone TTL; a later :class:`CacheSet` with a higher version replaces
  it and makes the key permanent again.

Once a tombstone has expired its key is gone, and an update older than the delete
arriving after that would apply: the TTL must outlast any redelivery (Kinesis keeps
records 24 hours by default, up to 365 days when extended).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from auxeira.runtime.sinks import Outcome
from consumers.projections.mutations import MAX_VERSION, CacheMutation

__all__ = ["VERSION_WIDTH", "CacheSink", "CachedEntry", "encode_version"]

#: Digits of a stored version: enough for :data:`MAX_VERSION`.
VERSION_WIDTH = len(str(MAX_VERSION))


@dataclass(frozen=True, slots=True)
class CachedEntry:
    """What the cache holds for one key.

    Attributes:
        version: the version of the mutation that wrote it.
        state: the entity's public state; None for a tombstone.
        tombstone: True when the entity was deleted.
        ttl_ms: milliseconds until the key expires; None when it never does.
    """

    version: int
    state: dict[str, Any] | None
    tombstone: bool
    ttl_ms: int | None = None


@runtime_checkable
class CacheSink(Protocol):
    """A cache that applies versioned sets and deletes idempotently.

    ``namespace`` is the environment its keys belong to (``aux:{namespace}:...``), so
    two environments sharing one Redis never read each other's entries.
    """

    namespace: str

    def apply(self, mutations: Sequence[CacheMutation]) -> list[Outcome]:
        """Apply mutations in order; per mutation APPLIED, or STALE for a no-op (a
        duplicate, or an older version than the one held): the one sink contract of
        :mod:`auxeira.runtime.sinks`.

        Raises:
            RetryableSinkError: the cache could not be reached; nothing or part of the
                batch was applied, and applying it again is safe.
        """
        ...

    def get(self, redis_key: str) -> CachedEntry | None:
        """The entry under a key, or None if there is none."""
        ...

    def scan_keys(self, tenant: str | None = None) -> Iterator[str]:
        """Every cache key of the namespace, or of one tenant, each once, in no order."""
        ...


def encode_version(version: int) -> str:
    """A version as a fixed-width decimal string, so string order is numeric order.

    Raises:
        ValueError: negative, or more than :data:`VERSION_WIDTH` digits.
    """
    if not 0 <= version <= MAX_VERSION:
        raise ValueError(f"version {version} is outside 0..{MAX_VERSION}")
    return f"{version:0{VERSION_WIDTH}d}"
