"""The cache consumer: Kinesis -> Redis, as a Lambda handler and as a reusable factory.

Lambda entry point: ``consumers.handlers.cache.handler`` (its mapping:
``schemas.resources.mapping("cache")``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType

from auxeira.runtime.batch import Staged
from auxeira.runtime.bus import envelopes_of, kinesis_payload, order_key
from auxeira.runtime.dead_letters import DeadLetterStore
from auxeira.runtime.epochs import EpochGuard
from auxeira.runtime.handlers import Handler, lambda_entry, staged_handler
from auxeira.runtime.observability import BatchObserver
from auxeira.runtime.settings import CacheSettings
from auxeira.runtime.sinks import ItemOutcome
from consumers.projections import cache
from consumers.sinks.cache_base import CacheSink

__all__ = ["CONSUMER", "build_handler", "handler"]

CONSUMER = "cache"


def build_handler(
    sink: CacheSink,
    dead_letters: DeadLetterStore,
    consumer: str = CONSUMER,
    observer: BatchObserver | None = None,
    epochs: EpochGuard | None = None,
    **options: Any,
) -> Handler:
    """A Lambda-shaped handler applying each batch to ``sink`` in one pipelined call
    (``epochs``: the store's epoch check, run before a batch at most once a minute)."""

    namespace = sink.namespace

    def prepare(record: Any) -> list[Staged]:
        return [
            Staged(m, order_key(e), e.event_id)
            for e in envelopes_of(kinesis_payload(record))
            for m in cache.project(e, namespace)
        ]

    def apply(mutations: Sequence[Any]) -> Sequence[ItemOutcome]:
        if epochs is not None:
            epochs.check()
        return sink.apply(mutations)

    return staged_handler(
        EventType.KinesisDataStreams,
        prepare=prepare,
        apply=apply,
        dead_letters=dead_letters,
        consumer=consumer,
        observer=observer,
        **options,
    )


def _from_settings(settings: CacheSettings) -> Handler:
    from auxeira.runtime.clients import ClientFactory
    from auxeira.runtime.dead_letters import dead_letter_store
    from auxeira.runtime.epochs import EpochRecords
    from auxeira.runtime.observability import PowertoolsObserver
    from consumers.sinks.redis_cache import RedisCacheSink

    clients = ClientFactory.from_settings(settings)
    token = settings.redis_auth_token.get_secret_value() if settings.redis_auth_token else None
    sink = RedisCacheSink(
        url=settings.redis_url,
        auth_token=token,
        namespace=settings.environment,
        tombstone_ttl_seconds=settings.tombstone_ttl_seconds,
    )
    observer = PowertoolsObserver(CONSUMER, env=settings.env)
    records = EpochRecords(clients.client("dynamodb"), settings.checkpoint_table)
    return build_handler(
        sink,
        dead_letter_store(settings.lake, clients.client("s3")),
        observer=observer,
        epochs=EpochGuard(CONSUMER, sink, records, alarm=observer.store_reset),
    )


#: Lambda entry point.
handler = lambda_entry(CacheSettings, _from_settings)
