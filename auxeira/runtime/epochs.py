"""Store epochs: a marker in every projection store, so a store that lost its state is noticed.

Why: checkpoints live in DynamoDB, apart from the stores the consumers fill. When a store
loses its state behind their back (a Redis restart empties the cache: in a drill 38 % of
the items went missing and nothing noticed), the consumers carry on from their
checkpoints and never apply again what was lost. So each store holds a marker of the
build it carries, an *epoch* (an id and the time it was written), and the checkpoint
table keeps a copy (``PK = __epochs__``, ``SK =`` the store). While the store keeps its
state the two agree; a marker that vanished or changed says the store was emptied or
replaced, whatever the checkpoints say.

States of one store (:func:`inspect`):

==========  =================================================================  =========
state       marker in the store / copy in the checkpoint table                 problem
==========  =================================================================  =========
ok          the same epoch in both                                             no
unmarked    neither: the store was never built (a consumer marks it)           no
reset       only the copy: the store lost its state                            **yes**
replaced    both, different epochs: the store was swapped or restored          **yes**
unrecorded  only the marker: the copy was lost (a consumer records it)         no
unknown     the store or the table could not be read                           not seen
==========  =================================================================  =========

Who writes epochs:

* a consumer's :class:`EpochGuard`, on first use of a store (``unmarked``): marker first,
  then the copy, each only if absent, so concurrent consumers agree on one epoch;
* every rebuild operation (backfill, replay of a whole projection), through
  :func:`mark_built` once the rebuild is done: a new epoch in the store, then its copy.
  That is what clears a ``reset``: the store holds a build again.

Markers live where the store's state lives, so they vanish with it: a Redis key in the
environment's namespace, a row of the embedded index's ``meta`` table, a document of an
OpenSearch index, an item of the counters table (each sink's ``read_epoch`` and
``write_epoch``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import orjson
from botocore.exceptions import ClientError

__all__ = [
    "CHECK_SECONDS",
    "EPOCHS_PK",
    "Epoch",
    "EpochCheck",
    "EpochGuard",
    "EpochRecords",
    "EpochState",
    "MarkedStore",
    "inspect",
    "log_alarm",
    "mark_built",
]

#: The checkpoint table's partition key of the epoch copies (``SK`` is the store).
EPOCHS_PK = "__epochs__"
#: How long a consumer trusts its last check: one read of the marker and one of its copy
#: per minute costs nothing, and a reset is raised within a minute.
CHECK_SECONDS = 60.0

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Epoch:
    """One build of a store: its id, when it was marked (ISO 8601, UTC) and by what."""

    id: str
    built_at: str
    by: str = ""

    @classmethod
    def new(cls, by: str, clock: Callable[[], float] = time.time) -> Epoch:
        return cls(uuid.uuid4().hex, datetime.fromtimestamp(clock(), UTC).isoformat(timespec="seconds"), by)

    def as_dict(self) -> dict[str, str]:
        return {"epoch": self.id, "built_at": self.built_at, "by": self.by}

    def to_json(self) -> bytes:
        return orjson.dumps(self.as_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Epoch:
        return cls(str(data["epoch"]), str(data["built_at"]), str(data.get("by", "")))

    @classmethod
    def from_json(cls, body: bytes | str) -> Epoch:
        return cls.from_dict(orjson.loads(body))


class MarkedStore(Protocol):
    """A store that keeps its epoch marker with its state (every projection sink)."""

    def read_epoch(self) -> Epoch | None:
        """The marker, or None when the store holds none."""
        ...

    def write_epoch(self, epoch: Epoch, *, only_if_absent: bool = False) -> Epoch:
        """Store ``epoch`` (only when there is none, if asked); returns the marker now held."""
        ...


class EpochRecords:
    """The copies of every store's epoch, in the checkpoint table (``PK = __epochs__``)."""

    def __init__(self, client: Any, table_name: str):
        self.client = client
        self.table_name = table_name

    def get(self, store: str) -> Epoch | None:
        item = self.client.get_item(TableName=self.table_name, Key=_key(store), ConsistentRead=True).get("Item")
        return None if item is None else _epoch_of(item)

    def put(self, store: str, epoch: Epoch, *, only_if_absent: bool = False) -> Epoch:
        """Record ``epoch`` for ``store`` (only when none is recorded, if asked); returns the copy held."""
        item = {**_key(store), "epoch": {"S": epoch.id}, "built_at": {"S": epoch.built_at}, "by": {"S": epoch.by}}
        condition = {"ConditionExpression": "attribute_not_exists(PK)"} if only_if_absent else {}
        try:
            self.client.put_item(TableName=self.table_name, Item=item, **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return self.get(store) or epoch
        return epoch


class EpochState(StrEnum):
    OK = "ok"
    UNMARKED = "unmarked"
    RESET = "reset"
    REPLACED = "replaced"
    UNRECORDED = "unrecorded"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class EpochCheck:
    """What :func:`inspect` found for one store."""

    store: str
    state: EpochState
    marker: Epoch | None = None
    recorded: Epoch | None = None
    error: str | None = None

    @property
    def problem(self) -> bool:
        """The store lost or swapped its state: alarm, and rebuild it."""
        return self.state in (EpochState.RESET, EpochState.REPLACED)

    @property
    def message(self) -> str:
        recorded = self.recorded
        since = f"epoch {recorded.id[:12]} built {recorded.built_at}" if recorded else ""
        return {
            EpochState.OK: f"{self.store}: holds its build ({since})",
            EpochState.UNMARKED: f"{self.store}: never built (the first consumer batch marks it)",
            EpochState.RESET: f"{self.store}: lost its state: its marker of {since} is gone",
            EpochState.REPLACED: (
                f"{self.store}: replaced: it holds epoch {self.marker.id[:12] if self.marker else '?'} "
                f"({self.marker.built_at if self.marker else '?'}), the pipeline recorded {since}"
            ),
            EpochState.UNRECORDED: f"{self.store}: its epoch is not recorded in the checkpoint table (a consumer records it)",
            EpochState.UNKNOWN: f"{self.store}: could not be checked: {self.error}",
        }[self.state]

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "state": self.state.value,
            "problem": self.problem,
            "marker": None if self.marker is None else self.marker.as_dict(),
            "recorded": None if self.recorded is None else self.recorded.as_dict(),
            "message": self.message,
        }


def inspect(store: str, markers: MarkedStore, records: EpochRecords) -> EpochCheck:
    """The state of ``store`` (see the module docstring); reads only, never raises."""
    try:
        recorded = records.get(store)
        marker = markers.read_epoch()
    except Exception as exc:  # noqa: BLE001 - a store that cannot be read is "unknown", never a crash
        return EpochCheck(store, EpochState.UNKNOWN, error=f"{type(exc).__name__}: {exc}")
    if marker is None and recorded is None:
        state = EpochState.UNMARKED
    elif marker is None:
        state = EpochState.RESET
    elif recorded is None:
        state = EpochState.UNRECORDED
    else:
        state = EpochState.OK if marker.id == recorded.id else EpochState.REPLACED
    return EpochCheck(store, state, marker, recorded)


def mark_built(
    store: str, markers: MarkedStore, records: EpochRecords, *, by: str, clock: Callable[[], float] = time.time
) -> Epoch:
    """Record that ``store`` now holds a complete build: a new epoch in it, then its copy.

    Rebuild operations call this once their rebuild is done (``auxeira backfill`` after the
    snapshots of every table were emitted, ``auxeira replay --projection P`` of the whole
    history after it finished); ``by`` says which (``"backfill"``). It clears a ``reset``
    or ``replaced`` state. The marker is written first: a crash between the two writes
    leaves ``replaced``, and running it again completes it.
    """
    epoch = Epoch.new(by, clock)
    markers.write_epoch(epoch)
    records.put(store, epoch)
    return epoch


def log_alarm(check: EpochCheck) -> None:
    """The default alarm: one error line (the deployed handlers also emit ``StoreReset``)."""
    _log.error("store epoch check failed: %s", check.message, extra={"store": check.store, "state": check.state})


class EpochGuard:
    """A consumer's check of its store, at most once per ``ttl_seconds`` (call :meth:`check` per batch).

    A store found ``reset`` or ``replaced`` raises ``alarm`` on every check (so once a
    minute, until a rebuild marks it), and the consumer keeps applying live events: what
    it applies is right, only what the store lost is missing. A store found ``unmarked``
    is marked (its first build starts now), one found ``unrecorded`` has its copy
    recorded. Nothing here ever fails a batch.

    Args:
        store: the store's name (``cache``, ``search``, ``counters``).
        clock: monotonic seconds, for the cache of the last check (tests inject one).
    """

    def __init__(
        self,
        store: str,
        markers: MarkedStore,
        records: EpochRecords,
        *,
        alarm: Callable[[EpochCheck], None] = log_alarm,
        ttl_seconds: float = CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store, self.markers, self.records = store, markers, records
        self._alarm, self._ttl, self._clock = alarm, ttl_seconds, clock
        self._last: EpochCheck | None = None
        self._checked_at = 0.0

    def check(self) -> EpochCheck:
        """The store's state, re-read when the last check is older than ``ttl_seconds``."""
        now = self._clock()
        if self._last is not None and now - self._checked_at < self._ttl:
            return self._last
        found = inspect(self.store, self.markers, self.records)
        try:
            found = self._settle(found)
        except Exception as exc:  # noqa: BLE001 - an epoch that cannot be written must never fail a batch
            _log.warning("could not record the epoch of %s: %s", self.store, exc)
        if found.problem:
            self._alarm(found)
        elif found.state is EpochState.UNKNOWN:
            _log.warning("store epoch not checked: %s", found.message)
        self._last, self._checked_at = found, now
        return found

    def _settle(self, found: EpochCheck) -> EpochCheck:
        """Mark a store never built; record the copy of a marker whose copy was lost.

        Both writes are "only if absent", so consumers settling one store at once agree on
        one epoch; the store is read again to report what was settled.
        """
        if found.state is EpochState.UNMARKED:
            marker = self.markers.write_epoch(Epoch.new("first use"), only_if_absent=True)
            self.records.put(self.store, marker, only_if_absent=True)
        elif found.state is EpochState.UNRECORDED and found.marker is not None:
            self.records.put(self.store, found.marker, only_if_absent=True)
        else:
            return found
        return inspect(self.store, self.markers, self.records)


def _key(store: str) -> dict[str, Any]:
    return {"PK": {"S": EPOCHS_PK}, "SK": {"S": store}}


def _epoch_of(item: dict[str, Any]) -> Epoch:
    return Epoch(item["epoch"]["S"], item["built_at"]["S"], item.get("by", {}).get("S", ""))
