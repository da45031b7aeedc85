"""What projections ask sinks to do: small frozen values, no behaviour, no I/O.

The cache needs only two: put an entity's state, or leave a tombstone where it was.
Both carry the envelope's ``version`` so a sink can drop duplicates and stale
arrivals (see ``schemas.envelope`` for where versions come from).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from schemas.envelope import MAX_ORDER

__all__ = ["MAX_VERSION", "CacheDelete", "CacheMutation", "CacheSet"]

#: Largest order a sink can store: an envelope's order (``version * 10**40 +
#: sequence``, :attr:`schemas.envelope.Envelope.order`) has at most 60 digits, so sinks
#: store it as a 60-digit zero-padded string, whose string order is numeric order.
MAX_VERSION = MAX_ORDER


@dataclass(frozen=True, slots=True)
class CacheSet:
    """Cache an entity's public state, unless a version >= ``version`` is already held.

    Attributes:
        redis_key: ``aux:{tenant}:{entity}:{key}``.
        version: the envelope's order (0 .. :data:`MAX_VERSION`), which decides staleness.
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
