"""The search consumer: Kinesis -> search index, as a Lambda handler and a reusable factory.

Lambda entry point: ``consumers.handlers.search.handler`` (its own event source mapping
on the events stream, so search keeps its own checkpoints and can be replayed without
the other projections).

Outcomes of the sink, per mutation (:mod:`auxeira.runtime.sinks`): applied, or stale
(a newer version is already indexed) -> the record succeeded; ``RetryableSinkError`` ->
delivered again; ``PoisonRecordError`` (the index refuses the document itself, e.g. a
mapping error) -> dead-lettered with its record, and the batch goes on.
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
from auxeira.runtime.settings import SearchSettings
from auxeira.runtime.sinks import ItemOutcome
from consumers.projections import search
from consumers.projections.search import SearchMutation
from consumers.sinks.search_base import SearchSink

__all__ = ["CONSUMER", "build_handler", "configured_sink", "handler"]

CONSUMER = "search"


def build_handler(
    sink: SearchSink,
    dead_letters: DeadLetterStore,
    consumer: str = CONSUMER,
    observer: BatchObserver | None = None,
    epochs: EpochGuard | None = None,
    **options: Any,
) -> Handler:
    """A Lambda-shaped handler applying each batch to ``sink`` in one call (``epochs``: the
    store's epoch check, run before a batch at most once a minute)."""

    def prepare(record: Any) -> list[Staged]:
        return [
            Staged(m, order_key(e), e.event_id)
            for e in envelopes_of(kinesis_payload(record))
            for m in search.project(e)
        ]

    def apply(mutations: Sequence[SearchMutation]) -> Sequence[ItemOutcome]:
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


def configured_sink(settings: SearchSettings, clients: Any = None) -> SearchSink:
    """OpenSearch when ``opensearch_url`` is set (SigV4-signed for Amazon OpenSearch
    Service), else the embedded index (``search_path``, or under the lake root)."""
    if settings.opensearch_url:
        from auxeira.runtime.clients import ClientFactory
        from consumers.sinks.search_opensearch import OpenSearchSink

        factory = clients or ClientFactory.from_settings(settings)
        return OpenSearchSink(factory.opensearch(settings.opensearch_url), env=settings.environment)
    from consumers.sinks.search_embedded import EmbeddedSearchSink

    if settings.search_path:
        return EmbeddedSearchSink(settings.search_path)
    return EmbeddedSearchSink.for_lake(settings.lake, env=settings.environment)


def _from_settings(settings: SearchSettings) -> Handler:
    from auxeira.runtime.clients import ClientFactory
    from auxeira.runtime.dead_letters import dead_letter_store
    from auxeira.runtime.epochs import EpochRecords
    from auxeira.runtime.observability import PowertoolsObserver

    clients = ClientFactory.from_settings(settings)
    sink = configured_sink(settings, clients)
    observer = PowertoolsObserver(CONSUMER, env=settings.env)
    records = EpochRecords(clients.client("dynamodb"), settings.checkpoint_table)
    return build_handler(
        sink,
        dead_letter_store(settings.lake, clients.client("s3")),
        observer=observer,
        epochs=EpochGuard(CONSUMER, sink, records, alarm=observer.store_reset),  # type: ignore[arg-type]
    )


#: Lambda entry point.
handler = lambda_entry(SearchSettings, _from_settings)
