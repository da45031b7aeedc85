"""``auxeira dlq list | show ID | redrive``: what the pipeline set aside, and putting it back.

On-call needs one view over both places records land when they cannot be processed:
the handlers' dead letters (with their cause and payload) and the event source
mappings' failure records (a crash or a timeout the handler could not report; with the
batch as payload, or only its positions). :class:`Dlq` lists them grouped by consumer
and error type, shows one with its records decoded, and redrives a selection through the
very handlers that run deployed (:meth:`Dlq.of` takes them from an
:class:`~auxeira.operations.environment.Environment`), after the cause was fixed.

Why no SQS-style move task: AWS's ``StartMessageMoveTask`` redrives only SQS dead-letter
queues, and a stream mapping's SQS failure record holds no payload; here the records are
in the lake (or still in the stream), so the redrive reads them and calls the handler.

The pieces: :mod:`~auxeira.operations.dlq_items` (reading both stores),
:mod:`~auxeira.operations.dlq_streams` (a range read back from its stream),
:mod:`~auxeira.operations.dlq_views` (groups, readable records),
:mod:`~auxeira.operations.dlq_redrive` (the redrive and its outcomes) and
:mod:`~auxeira.operations.dlq_letters` (what a redrive writes, in a crash-safe order).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from auxeira.operations.dlq_items import DlqItem, Selection, Stores, parse_since
from auxeira.operations.dlq_redrive import OUTCOMES, PROBLEMS, HandlerFactory, Redriver, Result, Step
from auxeira.operations.dlq_streams import RangeReader, StreamClients
from auxeira.operations.dlq_views import Group, group_items, readable_record
from auxeira.operations.environment import Environment
from auxeira.runtime.handlers import Handler
from auxeira.runtime.objects import object_store
from auxeira.runtime.observability import BatchObserver

__all__ = ["Dlq", "Listing", "Selection", "Summary", "environment_handlers", "parse_since"]


@dataclass(frozen=True)
class Listing:
    """The selected items and their groups."""

    items: list[DlqItem]
    groups: list[Group]

    @property
    def empty(self) -> bool:
        return not self.items

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": len(self.items),
            "records": sum(i.batch_size for i in self.items),
            "groups": [g.as_dict() for g in self.groups],
            "items": [i.summary() for i in self.items],
        }


@dataclass(frozen=True)
class Summary:
    """The end of a redrive (or of its dry run: the plan, nothing done)."""

    steps: list[Step]
    results: list[Result]
    dry_run: bool = False

    @property
    def counts(self) -> dict[str, int]:
        seen = Counter(r.outcome for r in self.results)
        return {outcome: seen[outcome] for outcome in OUTCOMES}

    @property
    def problems(self) -> list[Result]:
        return [r for r in self.results if r.outcome in PROBLEMS]

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"dry_run": self.dry_run, "selected": len(self.steps)}
        if self.dry_run:
            body["plan"] = [s.as_dict() for s in self.steps]
            return body
        body.update(
            outcomes=self.counts,
            moved=sum(1 for r in self.results if r.moved_to),
            results=[r.as_dict() for r in self.results],
        )
        return body


class Dlq:
    """Dead letters and failure records of one environment (see the module docstring)."""

    def __init__(self, stores: Stores, handlers: HandlerFactory, reader: RangeReader):
        self.stores = stores
        self.reader = reader
        self.redriver = Redriver(stores, handlers, reader)

    @classmethod
    def of(cls, env: Environment, failures_root: str | None = None) -> Dlq:
        """The environment's lake, handlers and streams; ``failures_root`` is the mapping's
        failure bucket (``s3://...``) when it is not the lake."""
        failures_root = failures_root or env.failures_root
        failures = (
            object_store(failures_root, env.s3 if failures_root.startswith("s3://") else None)
            if failures_root
            else None
        )
        clients: StreamClients = env
        return cls(Stores(env.objects, failures), environment_handlers(env), RangeReader(clients))

    def listing(self, selection: Selection | None = None) -> Listing:
        chosen = selection or Selection()
        items = sorted((i for i in self.stores.items() if chosen.matches(i)), key=lambda i: (i.consumer, i.at))
        return Listing(items, group_items(items))

    def show(self, item_id: str) -> dict[str, Any] | None:
        """One item with its records readable; without payload, the range read from the stream."""
        item = self.stores.get(item_id)
        if item is None:
            return None
        body = item.summary()
        body["record_count"] = body.pop("records")
        records = item.records
        if records is None:
            fetched = self.reader.fetch(item)
            body["retention"] = fetched.as_dict()
            records = fetched.records
        body["records"] = [readable_record(r) for r in records]
        return body

    def plan(self, selection: Selection | None = None) -> list[Step]:
        return self.redriver.plan(self.listing(selection).items)

    def redrive(self, steps: Sequence[Step], progress: Callable[[Result], None] | None = None) -> Summary:
        return Summary(list(steps), self.redriver.run(steps, progress))


def environment_handlers(env: Environment) -> HandlerFactory:
    """Handlers as deployed: the router for table streams, ``env.handler`` for the events consumers."""

    def build(consumer: str, observer: BatchObserver) -> Handler:
        return env.router(observer) if consumer == "router" else env.handler(consumer, observer)

    return build
