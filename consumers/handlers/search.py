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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType, process_partial_response

from consumers.batch import Staged, StagedBatchProcessor, record_position
from consumers.dead_letters import DeadLetter, DeadLetterStore, dead_letter_store
from consumers.decoding import envelopes_of, kinesis_payload, order_key
from consumers.projections import search
from consumers.projections.search import SearchMutation
from consumers.settings import PipelineSettings
from consumers.sinks.search_base import Done, SearchSink
from schemas.errors import PoisonRecordError, RetryableSinkError

__all__ = ["CONSUMER", "build_handler", "configured_sink", "handler"]

CONSUMER = "search"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Pending:
    """A mutation and the raw record it came from, so the sink's poison can be dead-lettered."""

    mutation: SearchMutation
    record: dict[str, Any]


def build_handler(sink: SearchSink, dead_letters: DeadLetterStore, consumer: str = CONSUMER) -> Handler:
    """A Lambda-shaped handler applying each batch to ``sink`` in one call."""

    def prepare(record: Any) -> list[Staged]:
        return [
            Staged(_Pending(m, record.raw_event), order_key(e))
            for e in envelopes_of(kinesis_payload(record))
            for m in search.project(e)
        ]

    def apply(items: Sequence[_Pending]) -> list[BaseException | None]:
        outcomes = sink.apply([p.mutation for p in items])
        return [_settle(p, o, dead_letters, consumer) for p, o in zip(items, outcomes)]

    def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        processor = StagedBatchProcessor(
            EventType.KinesisDataStreams, apply=apply, dead_letters=dead_letters, consumer=consumer
        )
        return process_partial_response(event=event, record_handler=prepare, processor=processor,
                                        context=context)

    return handle


def _settle(pending: _Pending, outcome: Any, dead_letters: DeadLetterStore,
            consumer: str) -> BaseException | None:
    """What the batch processor sees of one outcome: None (done) or the failure."""
    if isinstance(outcome, Done):
        return None
    if isinstance(outcome, PoisonRecordError):
        shard, sequence = record_position(pending.record)
        letter = DeadLetter(consumer=consumer, shard_id=shard, sequence_number=sequence,
                            error_type=type(outcome).__name__, message=str(outcome),
                            record=pending.record)
        try:
            dead_letters.put(letter)
        except Exception as exc:  # noqa: BLE001 - not stored means not done: redeliver it
            return RetryableSinkError(f"dead letter not stored: {exc}")
        return None
    if isinstance(outcome, RetryableSinkError):
        return outcome
    raise TypeError(f"search sink returned {outcome!r}, not an outcome")


def configured_sink(settings: PipelineSettings) -> SearchSink:
    """OpenSearch when ``opensearch_url`` is set, else the embedded index under the lake root."""
    if settings.opensearch_url:
        from consumers.sinks.search_opensearch import OpenSearchSink

        return OpenSearchSink(url=settings.opensearch_url, env=settings.env)
    from consumers.sinks.search_embedded import EmbeddedSearchSink

    return EmbeddedSearchSink.for_lake(settings.lake_root)


_handler: Handler | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point; clients are built on the first invocation, not at import."""
    global _handler
    if _handler is None:
        settings = PipelineSettings()
        _handler = build_handler(configured_sink(settings), dead_letter_store(settings.lake_root))
    return _handler(event, context)
