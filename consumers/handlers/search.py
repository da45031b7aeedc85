"""The search consumer: Kinesis -> search index, as a Lambda handler and a reusable factory.

Lambda entry point: ``consumers.handlers.search.handler`` (its own event source mapping
on the events stream, ``FunctionResponseTypes: [ReportBatchItemFailures]``, so search
keeps its own checkpoints and can be replayed without the other projections).

Outcomes of the sink, per mutation:

* applied, or conflict (a newer version is already indexed) -> the record succeeded;
* ``RetryableSinkError`` -> the record is reported failed and delivered again;
* ``PoisonRecordError`` (the index refuses the document itself, e.g. a mapping error)
  -> the raw record goes to the dead-letter store, like a record that fails to decode,
  and the batch goes on. Retrying it could never succeed and would stall its shard.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType

from auxeira.runtime.batch import Handler, Staged, lazy_handler, staged_handler
from auxeira.runtime.dead_letters import DeadLetterStore, dead_letter_store
from auxeira.runtime.bus import envelopes_of, kinesis_payload, order_key
from consumers.projections import search
from consumers.projections.search import SearchMutation
from auxeira.runtime.settings import PipelineSettings
from consumers.sinks.search_base import Done, SearchSink
from schemas.errors import PoisonRecordError, RetryableSinkError

__all__ = ["CONSUMER", "build_handler", "configured_sink", "handler"]

CONSUMER = "search"


def build_handler(sink: SearchSink, dead_letters: DeadLetterStore, consumer: str = CONSUMER) -> Handler:
    """A Lambda-shaped handler applying each batch to ``sink`` in one call."""

    def prepare(record: Any) -> list[Staged]:
        return [Staged(m, order_key(e)) for e in envelopes_of(kinesis_payload(record)) for m in search.project(e)]

    def apply(mutations: Sequence[SearchMutation]) -> list[BaseException | None]:
        return [_settle(o) for o in sink.apply(mutations)]

    return staged_handler(EventType.KinesisDataStreams, prepare=prepare, apply=apply,
                          dead_letters=dead_letters, consumer=consumer)


def _settle(outcome: Any) -> BaseException | None:
    """What the batch processor sees of one outcome: None when done (applied, or a newer
    version already indexed), the error otherwise (poison is dead-lettered, a retryable
    error redelivered)."""
    if isinstance(outcome, Done):
        return None
    if isinstance(outcome, (PoisonRecordError, RetryableSinkError)):
        return outcome
    raise TypeError(f"search sink returned {outcome!r}, not an outcome")


def configured_sink(settings: PipelineSettings) -> SearchSink:
    """OpenSearch when ``opensearch_url`` is set, else the embedded index under the lake root."""
    if settings.opensearch_url:
        from consumers.sinks.search_opensearch import OpenSearchSink

        return OpenSearchSink(url=settings.opensearch_url, env=settings.env)
    from consumers.sinks.search_embedded import EmbeddedSearchSink

    return EmbeddedSearchSink.for_lake(settings.lake_root)


def _from_settings() -> Handler:
    settings = PipelineSettings()
    return build_handler(configured_sink(settings), dead_letter_store(settings.lake_root))


#: Lambda entry point.
handler = lazy_handler(_from_settings)
