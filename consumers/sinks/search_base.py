"""What every search sink offers, so one test suite runs against each of them.

Semantics both sinks implement (embedded SQLite FTS5, OpenSearch):

* a mutation applies only if its version is strictly greater than the one stored for
  its document id, tombstones included; otherwise it is a *conflict*: a newer state is
  already there, which is success (counted apart), never an error;
* a :class:`~consumers.projections.search.DeleteDoc` leaves a tombstone that keeps its
  version for good, so a late stale update cannot resurrect the document;
* every query is filtered to one tenant.

``apply`` returns one outcome per mutation instead of raising on the first failure:
:data:`APPLIED`, :data:`CONFLICT`, a :class:`RetryableSinkError` (deliver again) or a
:class:`PoisonRecordError` (the document itself can never be indexed: dead-letter it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from auxeira.runtime.sinks import APPLIED, STALE
from auxeira.runtime.sinks import Outcome as SinkOutcome
from consumers.projections.mutations import MAX_VERSION
from consumers.projections.search import DeleteDoc, SearchMutation, UpsertDoc
from schemas.errors import PoisonRecordError, RetryableSinkError
from schemas.search_fields import SEARCH_ENTITIES, SearchEntity, search_entity

__all__ = [
    "APPLIED",
    "CONFLICT",
    "MAX_LIMIT",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "Done",
    "Hit",
    "Outcome",
    "SearchSink",
    "SinkStats",
    "StoredDoc",
    "check_limit",
    "check_query",
    "targets",
]

#: Most hits one query returns.
MAX_LIMIT = 1000


#: The runtime's outcomes (:mod:`auxeira.runtime.sinks`): a conflict is a newer version
#: already indexed, the search name of STALE.
Done = SinkOutcome
CONFLICT = STALE
Outcome: TypeAlias = SinkOutcome | RetryableSinkError | PoisonRecordError


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result; a higher ``score`` is a better match."""

    index: str
    doc_id: str
    tenant: str
    score: float
    version: int
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredDoc:
    """What a sink holds for one document id: a live document, or a tombstone (no body)."""

    index: str
    doc_id: str
    tenant: str
    version: int
    body: Mapping[str, Any] | None

    @property
    def deleted(self) -> bool:
        return self.body is None


@dataclass
class SinkStats:
    """Counters of every outcome a sink returned, for metrics and the benchmark."""

    applied: int = 0
    conflicts: int = 0
    retries: int = 0
    poison: int = 0

    def add(self, outcomes: Sequence[Outcome]) -> None:
        for o in outcomes:
            if o is APPLIED:
                self.applied += 1
            elif o is CONFLICT:
                self.conflicts += 1
            elif isinstance(o, RetryableSinkError):
                self.retries += 1
            else:
                self.poison += 1


class SearchSink(ABC):
    """Base of the search sinks: checks and counts here, storage in the subclasses.

    A subclass writes :meth:`_apply` (mutations already checked, in order) and the
    read methods; it builds its clients on first use, never in ``__init__``.
    """

    def __init__(self) -> None:
        self.stats = SinkStats()

    def apply(self, mutations: Sequence[SearchMutation]) -> list[Outcome]:
        """Apply mutations in order; one outcome per mutation.

        Steps: 1. refuse what is not a mutation (a bug upstream: ``TypeError``)
        2. a version outside 0 .. MAX_VERSION is poison for that item alone
        3. the subclass applies the rest 4. the outcomes are counted.

        Raises:
            RetryableSinkError: the store could not be reached at all; nothing of the
                batch was applied, or applying it again is safe.
        """
        outcomes: list[Outcome | None] = [None] * len(mutations)
        todo: list[int] = []
        for i, m in enumerate(mutations):
            if type(m) is not UpsertDoc and type(m) is not DeleteDoc:
                raise TypeError(f"not a search mutation: {m!r}")
            if not 0 <= m.version <= MAX_VERSION:
                outcomes[i] = PoisonRecordError(
                    f"{m.index}/{m.doc_id}: version {m.version} is outside 0..{MAX_VERSION}"
                )
            else:
                todo.append(i)
        if todo:
            applied = self._apply([mutations[i] for i in todo])
            if len(applied) != len(todo):
                raise RuntimeError(f"{type(self).__name__} returned {len(applied)} outcomes for {len(todo)} mutations")
            for i, outcome in zip(todo, applied):
                outcomes[i] = outcome
        done = [o for o in outcomes if o is not None]  # every slot is filled
        self.stats.add(done)
        return done

    @abstractmethod
    def _apply(self, mutations: Sequence[SearchMutation]) -> list[Outcome]:
        """Apply checked mutations in order; one outcome per mutation."""

    @abstractmethod
    def search(self, text: str, tenant: str, entity: str | None = None, limit: int = 10) -> list[Hit]:
        """The best ``limit`` live documents of ``tenant`` matching ``text``, best first.

        Args:
            entity: an index name (``startups``) or entity name (``startup``); None
                searches every index.
        """

    @abstractmethod
    def count(self, tenant: str, entity: str) -> int:
        """How many live documents ``tenant`` has in one index."""

    @abstractmethod
    def get(self, index: str, doc_id: str) -> StoredDoc | None:
        """The document or tombstone under an id, whatever its tenant (for verification)."""

    def refresh(self) -> None:  # noqa: B027 - a hook: only some stores need it
        """Make every applied mutation visible to search (a no-op where it already is)."""

    def close(self) -> None:  # noqa: B027 - a hook: only some stores need it
        """Release connections (a no-op where there are none)."""


def targets(entity: str | None) -> tuple[SearchEntity, ...]:
    """The indexes a query covers (raises KeyError for a name that is not searchable)."""
    return SEARCH_ENTITIES if entity is None else (search_entity(entity),)


#: Longest query accepted, and most words in it: a query is a few words a person types; a
#: 200,000-word query kept the embedded index busy for a minute.
MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32


def check_query(text: str) -> str:
    """Refuse a query no person types, naming the bound (``ValueError``)."""
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"the query has {len(text)} characters; at most {MAX_QUERY_CHARS}")
    terms = len(text.split())
    if terms > MAX_QUERY_TERMS:
        raise ValueError(f"the query has {terms} words; at most {MAX_QUERY_TERMS}")
    return text


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be within 1..{MAX_LIMIT}, not {limit}")
    return limit
