"""Lambda-shaped stream handlers: one staged batch per invocation, observed, AWS-faithful.

Every deployable (the router and each consumer) is built by :func:`staged_handler` and
exposed to Lambda through :func:`lambda_entry`. Per invocation, in this order:

1. process the batch with :class:`~auxeira.runtime.batch.StagedBatchProcessor`
   (prepare all, dead-letter poison, apply once, report per record; a record still
   failing near the mapping's maximum record age is dead-lettered with its cause);
2. report the batch to the observer: one structured log line and one set of metrics;
3. if some records failed for a retryable reason and the handler runs in Lambda,
   pause before returning (:func:`retry_pause`): Lambda redelivers a failed batch at
   once, so this pause is what spreads the retries over the record age instead of
   spending ``MaximumRetryAttempts`` in minutes. The local runner backs off itself.
4. return the partial batch response (``batchItemFailures``); when every record failed,
   raise powertools' ``BatchProcessingError`` instead (after steps 2 and 3), so Lambda
   counts a failed invocation and bisects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from auxeira.runtime.batch import Apply, Prepare, StagedBatchProcessor
from auxeira.runtime.dead_letters import DeadLetterStore
from auxeira.runtime.observability import BatchObserver, BatchReport, quiet_observer
from auxeira.runtime.settings import RuntimeSettings, load, running_in_lambda
from schemas.resources import MappingSpec, mapping

__all__ = ["Handler", "give_up_after", "lambda_entry", "retry_pause", "staged_handler"]

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

#: Longest pause between two failed deliveries of one batch inside Lambda.
MAX_PAUSE_SECONDS = 30.0


def give_up_after(spec: MappingSpec) -> float:
    """The record age at which the handler gives a failing record up: just under the
    mapping's ``MaximumRecordAgeInSeconds``, so the handler (which knows the cause and
    redacts secrets) acts before Lambda discards the batch."""
    age = spec.maximum_record_age_seconds
    return age - min(300.0, age * 0.1)


def retry_pause(oldest_failed_age_seconds: float) -> float:
    """Seconds to wait before returning failures: 1 s at first, growing with the age of
    the failing records (5 % of it), at most 30 s."""
    return min(MAX_PAUSE_SECONDS, max(1.0, oldest_failed_age_seconds * 0.05))


def staged_handler(
    event_type: EventType,
    *,
    prepare: Prepare,
    apply: Apply,
    dead_letters: DeadLetterStore,
    consumer: str,
    spec: MappingSpec | None = None,
    observer: BatchObserver | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Handler:
    """A Lambda-shaped handler (``(event, context) -> partial batch response``); see the module docstring.

    Args:
        spec: the consumer's mapping spec (its record age); the registry's by default.
        observer: where each batch's report goes; by default nowhere.
    """
    spec = spec or mapping(consumer.partition(":")[0])
    observe = observer or quiet_observer
    give_up = give_up_after(spec)

    def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        started = time.monotonic()
        processor = StagedBatchProcessor(
            event_type,
            apply=apply,
            dead_letters=dead_letters,
            consumer=consumer,
            give_up_after_seconds=give_up,
            clock=clock,
        )
        records = event.get("Records") or []
        try:
            response = process_partial_response(
                event=event, record_handler=prepare, processor=processor, context=context
            )
        except BatchProcessingError:
            # Every record failed (a store down): the invocation fails, as powertools has it, so
            # Lambda retries (and bisects) the batch. It is reported and paused for all the same:
            # a whole outage is exactly when the log line, the metrics and the pause matter most.
            _finish(consumer, records, processor, started, observe, clock, sleep, context)
            raise
        _finish(consumer, records, processor, started, observe, clock, sleep, context)
        return dict(response)

    return handle


def _finish(
    consumer: str,
    records: list[dict[str, Any]],
    processor: StagedBatchProcessor,
    started: float,
    observe: BatchObserver,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    context: Any,
) -> None:
    observe(BatchReport.of(consumer, records, processor.stats, processor.failures, time.monotonic() - started))
    if processor.stats.retried and context is not None:
        _pause(records, clock, sleep, context)


def _pause(
    records: list[dict[str, Any]], clock: Callable[[], float], sleep: Callable[[float], None], context: Any
) -> None:
    from auxeira.runtime.batch import record_time

    times = [t for t in (record_time(r) for r in records) if t is not None]
    age = clock() - min(times) if times else 0.0
    remaining = getattr(context, "get_remaining_time_in_millis", lambda: 0)() / 1000.0
    pause = min(retry_pause(age), remaining - 2.0)
    if pause > 0:
        sleep(pause)


def lambda_entry(settings_class: type[RuntimeSettings], build: Callable[[Any], Handler]) -> Handler:
    """A Lambda entry point: settings validated at cold start, clients built on first call.

    Inside Lambda the settings are read and validated when the module is imported
    (Lambda's init phase), so a function deployed without, say, ``AUXEIRA_LAKE_ROOT``
    fails its cold start with a :class:`~auxeira.runtime.settings.SettingsError` naming
    the variable. Outside Lambda nothing is read until the first call, so importing a
    handler module in a test or a tool costs nothing. Building the handler (opening
    clients) waits for the first invocation in both cases.
    """
    settings: list[Any] = [load(settings_class)] if running_in_lambda() else []
    built: list[Handler] = []

    def entry(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not built:
            if not settings:
                settings.append(load(settings_class))
            built.append(build(settings[0]))
        return built[0](event, context)

    return entry
