"""What projections ask sinks to do: small frozen values, no behaviour, no I/O.

The cache needs only two: put an entity's state, or leave a tombstone where it was.
Both carry the envelope's ``version`` so a sink can drop duplicates and stale
arrivals (see ``schemas.envelope`` for where versions come from).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["MAX_VERSION", "CacheDelete", "CacheMutation", "CacheSet"]

#: Largest version a cache sink can order. DynamoDB stream sequence numbers are
#: decimal strings of 21 to 40 digits (DynamoDB Streams API reference, StreamRecord
#: ``SequenceNumber``), so sinks store versions as 40-digit zero-padded strings.
MAX_VERSION = 10**40 - 1


@dataclass(frozen=True, slots=True)
class CacheSet:
    """Cache an entity's public state, unless a version >= ``version`` is already held.

    Attributes:
        redis_key: ``aux:{tenant}:{entity}:{key}``.
        version: the envelope's version (0 .. :data:`MAX_VERSION`).
        state: orjson bytes of the entity's public state.
    """

    redis_key: str
    version: int
    state: bytes


@dataclass(frozen=True, slots=True)
class CacheDelete:
    """Replace an entity by a tombstone that remembers ``version`` for a while.

    The tombstone, not an absent key, is what stops a late stale update from
    resurrecting a deleted entity.
    """

    redis_key: str
    version: int


CacheMutation: TypeAlias = CacheSet | CacheDelete
