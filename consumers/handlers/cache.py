"""The cache consumer: Kinesis -> Redis, as a Lambda handler and as a reusable factory.

Lambda entry point: ``consumers.handlers.cache.handler`` (event source mapping on the
events stream with ``FunctionResponseTypes: [ReportBatchItemFailures]``).
"""

from __future__ import annotations

from typing import Any, Sequence

from aws_lambda_powertools.utilities.batch import EventType

from auxeira.runtime.batch import Handler, Staged, lazy_handler, staged_handler
from auxeira.runtime.dead_letters import DeadLetterStore, dead_letter_store
from auxeira.runtime.bus import envelopes_of, kinesis_payload, order_key
from consumers.projections import cache
from auxeira.runtime.settings import PipelineSettings
from consumers.sinks.cache_base import CacheSink
from schemas.events import REGISTRY
from schemas.catalog import ENTITIES
from schemas.envelope import Envelope

__all__ = ["CONSUMER", "build_handler", "handler"]

CONSUMER = "cache"


def build_handler(sink: CacheSink, dead_letters: DeadLetterStore, consumer: str = CONSUMER) -> Handler:
    """A Lambda-shaped handler applying each batch to ``sink`` in one pipelined call."""

    def prepare(record: Any) -> list[Staged]:
        return [Staged(cache.project(e), order_key(e)) for e in envelopes_of(kinesis_payload(record))
                if is_cached(e)]

    def apply(mutations: Sequence[Any]) -> list[None]:
        # Applied and no-op (duplicate or stale) are both success for the batch.
        sink.apply(mutations)
        return [None] * len(mutations)

    return staged_handler(EventType.KinesisDataStreams, prepare=prepare, apply=apply,
                          dead_letters=dead_letters, consumer=consumer)


def is_cached(envelope: Envelope) -> bool:
    """Table entities and published *state* events (a startup's Stripe MRR) are cached.

    Published *occurrences* (a page view, a chatbot turn) each have a key of their own
    that nobody reads back by key: caching them would grow Redis with traffic. They
    reach the lake and, where searchable, the index.
    """
    if envelope.entity in ENTITIES:
        return True
    return REGISTRY.model_for(envelope.event_type).kind == "state"


def _from_settings() -> Handler:
    from consumers.sinks.redis_cache import RedisCacheSink

    settings = PipelineSettings()
    sink = RedisCacheSink(url=settings.redis_url, tombstone_ttl_seconds=settings.tombstone_ttl_seconds)
    return build_handler(sink, dead_letter_store(settings.lake_root))


#: Lambda entry point.
handler = lazy_handler(_from_settings)
