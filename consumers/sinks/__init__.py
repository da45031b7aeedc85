"""Sinks: the I/O edge where projected mutations reach stores (Redis cache, ...).

Every cache sink satisfies :class:`CacheSink`, so tests written against the in-memory
sink run unchanged against Redis.
"""

from consumers.sinks.cache_base import CachedEntry, CacheSink
from consumers.sinks.memory import InMemoryCacheSink
from consumers.sinks.redis_cache import RedisCacheSink

__all__ = ["CacheSink", "CachedEntry", "InMemoryCacheSink", "RedisCacheSink"]
