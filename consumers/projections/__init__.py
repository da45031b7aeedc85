"""Projections: pure functions from envelopes to the mutations sinks apply.

Each projection is a module with its own ``project``; call it through the module
(``cache.project(envelope)``) so that projections never shadow one another here.
"""

from consumers.projections import cache, mutations
from consumers.projections.mutations import MAX_VERSION, CacheDelete, CacheMutation, CacheSet

__all__ = ["MAX_VERSION", "CacheDelete", "CacheMutation", "CacheSet", "cache", "mutations"]
