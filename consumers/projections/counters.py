"""The counters projection: envelopes -> per-parent counter deltas -> coalesced updates. Pure.

Deltas
------
For every rule of :mod:`consumers.projections.counter_rules` the envelope's entity has,
the delta is ``contribution(after) - contribution(before)``: a create adds, a delete,
an expiry or a soft delete takes back, an update that changes a summed field adds the
difference, and an update that moves the item to another parent takes from the old
parent and gives to the new one. Each delta depends on the envelope alone and sums
commute, so distinct events applied exactly once in any order give the same counters.
``MAX`` counters take the after value only when it is new (the before state was
already seen), and never go down. A ``HISTOGRAM`` delta is an ADD of -1 to the before
value's bucket and +1 to the after value's. A ``LATEST`` delta is not a difference but
a state: "at version v the value is x" (None for "gone", after a removal, a ``where``
that now excludes it, or a move to another item); a sink stores it beside its version
and only over an older one, so the newest version wins in any order.

Updates and watermarks
----------------------
:func:`coalesce` folds a batch into one :class:`CounterUpdate` per counter item and
shard: the net ADDs, the max of each max field, the newest version of each latest
field, and the batch's last sequence number on the shard, which becomes the item's
watermark for that shard. Each update keeps its per-record :class:`Part` so a sink
can resume it: the stored watermark says which parts an earlier delivery already
wrote (every contribution at or below it, because one shard is processed in order:
ParallelizationFactor 1), and :meth:`CounterUpdate.after` leaves only the rest. That
covers a replayed batch (nothing left: a no-op), a batch redelivered from its lowest
failed record after other items were written, and a redelivery cut into different
batches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Context, InvalidOperation, localcontext
from typing import Any

from consumers.projections.counter_items import (
    VERSION_PREFIX,
    CounterItem,
    Latest,
    WriteOutcome,
    WriteStats,
    histogram_attr,
    item_key,
)
from consumers.projections.counter_rules import RULES, CounterRule, Kind, Number, contribution, rules_for
from schemas.envelope import Envelope
from schemas.errors import PoisonRecordError

__all__ = [
    "SEQUENCE_WIDTH",
    "VERSION_PREFIX",
    "CounterDelta",
    "CounterEvent",
    "CounterItem",
    "CounterUpdate",
    "Latest",
    "Number",
    "Part",
    "WriteOutcome",
    "WriteStats",
    "coalesce",
    "deltas",
    "item_key",
    "pad_sequence",
    "plan",
    "to_event",
]

#: Kinesis sequence numbers are decimal strings matching ``0|([1-9]\d{0,128})`` (Kinesis
#: API reference, ``SequenceNumberRange``); padded to this width, string order is numeric.
SEQUENCE_WIDTH = 129

#: DynamoDB numbers carry 38 significant digits; Python's default Decimal context keeps 28
#: and would round a 38-digit amount (boto3 uses the same context for the same reason).
DYNAMODB_CONTEXT = Context(prec=38, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation])

_LIVE_ACTIONS = frozenset({"created", "updated", "soft_deleted", "recorded"})
_REMOVING_ACTIONS = frozenset({"deleted", "expired"})


@dataclass(frozen=True, slots=True)
class CounterDelta:
    """A change to one counter of one parent: ADD ``add``, raise it to ``max``, or, when
    ``version`` is set, make it ``value`` unless a newer version is stored."""

    tenant: str
    parent_key: str
    counter: str
    add: Number = 0
    max: str | None = None
    version: int | None = None
    value: Any = None


@dataclass(frozen=True, slots=True)
class CounterEvent:
    """One envelope's deltas at its stream position (what the handler stages per record)."""

    shard: str
    sequence: str
    event_id: str
    deltas: tuple[CounterDelta, ...]


@dataclass(frozen=True, slots=True)
class Part:
    """What one record adds to one counter item."""

    sequence: str
    adds: tuple[tuple[str, Number], ...]
    maxes: tuple[tuple[str, str], ...]
    latest: tuple[tuple[str, Latest], ...] = ()


@dataclass(frozen=True, slots=True)
class CounterUpdate:
    """Every change a batch makes to one counter item from one shard: one UpdateItem.

    Attributes:
        watermark: the batch's last sequence number on ``shard`` (padded); stored on
            the item, it marks every contribution up to it as written.
        parts: per-record contributions, in sequence order.
    """

    tenant: str
    parent_key: str
    shard: str
    watermark: str
    parts: tuple[Part, ...]

    @property
    def key(self) -> str:
        return item_key(self.tenant, self.parent_key)

    @property
    def first_sequence(self) -> str:
        return self.parts[0].sequence

    def adds(self) -> dict[str, Number]:
        """Net ADD per counter over the parts (zeros dropped), in DynamoDB's precision."""
        with localcontext(DYNAMODB_CONTEXT):
            return self._adds()

    def _adds(self) -> dict[str, Number]:
        out: dict[str, Number] = {}
        for part in self.parts:
            for name, amount in part.adds:
                out[name] = out.get(name, 0) + amount
        return {name: amount for name, amount in out.items() if amount != 0}

    def maxes(self) -> dict[str, str]:
        """Largest value per max counter over the parts."""
        out: dict[str, str] = {}
        for part in self.parts:
            for name, value in part.maxes:
                if value > out.get(name, ""):
                    out[name] = value
        return out

    def latest(self) -> dict[str, Latest]:
        """Newest ``(version, value)`` per latest counter over the parts."""
        out: dict[str, Latest] = {}
        for part in self.parts:
            for name, state in part.latest:
                if name not in out or state[0] > out[name][0]:
                    out[name] = state
        return out

    def chunks(self, max_adds: int) -> list[CounterUpdate]:
        """This update cut between parts so no piece ADDs more than ``max_adds`` attributes.

        Every piece but the last is watermarked at its own last part, so a crash between
        pieces leaves a watermark covering exactly what was written, and a redelivery
        resumes after it. One record's part is never cut. An update whose net ADDs fit
        is not cut, however many attributes its records touched and netted out.
        """
        if len(self.adds()) <= max_adds:
            return [self]
        pieces: list[list[Part]] = [[]]
        names: set[str] = set()
        for part in self.parts:
            mine = {name for name, _ in part.adds}
            if pieces[-1] and len(names | mine) > max_adds:
                pieces.append([])
                names = set()
            pieces[-1].append(part)
            names |= mine
        if len(pieces) == 1:
            return [self]
        marks = [p[-1].sequence for p in pieces[:-1]] + [self.watermark]
        return [replace(self, parts=tuple(p), watermark=m) for p, m in zip(pieces, marks)]

    def after(self, stored: str | None) -> CounterUpdate | None:
        """This update without the parts a stored watermark covers; None if it covers all."""
        if stored is None or stored < self.first_sequence:
            return self
        rest = tuple(p for p in self.parts if p.sequence > stored)
        return replace(self, parts=rest) if rest else None


def pad_sequence(sequence: str) -> str:
    """A sequence number zero-padded to :data:`SEQUENCE_WIDTH` digits.

    Raises:
        PoisonRecordError: not a decimal string that fits.
    """
    if not sequence.isdigit() or len(sequence) > SEQUENCE_WIDTH:
        raise PoisonRecordError(f"sequence number {sequence!r} is not a Kinesis sequence number")
    return sequence.zfill(SEQUENCE_WIDTH)


# -- envelope -> deltas -------------------------------------------------------------------


def deltas(envelope: Envelope, rules: tuple[CounterRule, ...] = RULES) -> list[CounterDelta]:
    """The counter deltas one envelope makes (see :func:`_deltas`), in DynamoDB's precision."""
    with localcontext(DYNAMODB_CONTEXT):
        return _deltas(envelope, rules)


def _deltas(envelope: Envelope, rules: tuple[CounterRule, ...] = RULES) -> list[CounterDelta]:
    """The counter deltas one envelope makes (empty for entities no rule counts).

    Raises:
        PoisonRecordError: a live action without an
            ``after`` image, or a counted field of the wrong type.
    """
    mine = rules_for(envelope.entity, rules)
    if not mine:
        return []
    action = envelope.event_type.rpartition(".")[2]
    if action not in _LIVE_ACTIONS and action not in _REMOVING_ACTIONS:
        # A snapshot (backfill) is not a change: counting it would count the item twice;
        # an action the counters do not know yet is skipped, never poison.
        return []
    if action in _LIVE_ACTIONS and envelope.after is None:
        raise _poison(envelope, "has no after image to count")
    after = None if action in _REMOVING_ACTIONS else envelope.after
    net: dict[tuple[str, str, str], Number] = {}
    states: list[CounterDelta] = []  # max and latest deltas: values, not differences
    for rule in mine:
        try:
            before_c = contribution(rule, envelope.before, envelope.tenant_id)
            after_c = contribution(rule, after, envelope.tenant_id)
        except (TypeError, ValueError) as exc:
            raise _poison(envelope, f"{rule.child}.{rule.field}: {exc}") from exc
        if rule.kind is Kind.MAX:
            if after_c is not None and after_c != before_c:
                states.append(CounterDelta(after_c[0], after_c[1], rule.counter, max=after_c[2]))
        elif rule.kind is Kind.LATEST:
            states += _latest(rule.counter, before_c, after_c, envelope.order)
        else:
            for sign, found in ((-1, before_c), (1, after_c)):
                if found is not None:
                    name, amount = _add(rule, found[2])
                    slot = (found[0], found[1], name)
                    net[slot] = net.get(slot, 0) + sign * amount
    out = [CounterDelta(t, p, c, add=amount) for (t, p, c), amount in net.items() if amount != 0]
    return out + states


def _add(rule: CounterRule, value: Number) -> tuple[str, Number]:
    """The attribute and amount one contribution ADDs: its bucket's +1, or the value."""
    return (histogram_attr(rule.counter, value), 1) if rule.kind is Kind.HISTOGRAM else (rule.counter, value)


def _latest(counter: str, before: tuple | None, after: tuple | None, version: int) -> list[CounterDelta]:
    """Set the after value at ``version``; clear it where the before state was, if elsewhere.

    An unchanged value is not re-sent: the version that set it already wins over every
    older one, and every newer one that changed it is sent itself.
    """
    if after == before:
        return []
    out = [] if after is None else [CounterDelta(after[0], after[1], counter, version=version, value=after[2])]
    if before is not None and (after is None or after[:2] != before[:2]):
        out.append(CounterDelta(before[0], before[1], counter, version=version, value=None))
    return out


def _poison(envelope: Envelope, why: str) -> PoisonRecordError:
    return PoisonRecordError(f"counters projection: event {envelope.event_id} ({envelope.event_type}): {why}")


# -- deltas -> coalesced updates ------------------------------------------------------------


def to_event(shard: str, sequence: str, envelope: Envelope, rules: tuple[CounterRule, ...] = RULES) -> CounterEvent:
    """An envelope's deltas at its stream position (raises PoisonRecordError like :func:`deltas`)."""
    return CounterEvent(shard, pad_sequence(sequence), envelope.event_id, tuple(deltas(envelope, rules)))


def coalesce(events: Iterable[CounterEvent]) -> list[CounterUpdate]:
    """One update per (counter item, shard) for a batch (see :func:`_coalesce`), in DynamoDB's precision."""
    with localcontext(DYNAMODB_CONTEXT):
        return _coalesce(events)


def _coalesce(events: Iterable[CounterEvent]) -> list[CounterUpdate]:
    """One update per (counter item, shard) for a batch of events, in stream order.

    Steps: 1. the shard's watermark is the batch's highest sequence number on it, events
    without deltas included; 2. an event id seen before in the batch is skipped (the
    router may put the same change twice after a crash); 3. deltas are summed per item,
    shard and record.
    """
    last: dict[str, str] = {}
    seen: set[str] = set()
    groups: dict[tuple[str, str, str], dict[str, tuple[dict, dict, dict]]] = {}
    for event in events:
        if event.sequence > last.get(event.shard, ""):
            last[event.shard] = event.sequence
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        for d in event.deltas:
            parts = groups.setdefault((d.tenant, d.parent_key, event.shard), {})
            adds, maxes, latest = parts.setdefault(event.sequence, ({}, {}, {}))
            if d.version is not None:
                if d.counter not in latest or d.version > latest[d.counter][0]:
                    latest[d.counter] = (d.version, d.value)
            elif d.max is None:
                adds[d.counter] = adds.get(d.counter, 0) + d.add
            elif d.max > maxes.get(d.counter, ""):
                maxes[d.counter] = d.max
    return [
        CounterUpdate(
            tenant,
            parent,
            shard,
            last[shard],
            tuple(
                Part(seq, tuple(adds.items()), tuple(maxes.items()), tuple(latest.items()))
                for seq, (adds, maxes, latest) in sorted(parts.items())
            ),
        )
        for (tenant, parent, shard), parts in groups.items()
    ]


def plan(batch: Iterable[tuple[str, str, Envelope]], rules: tuple[CounterRule, ...] = RULES) -> list[CounterUpdate]:
    """The updates (one DynamoDB UpdateItem each) a batch of ``(shard, sequence, envelope)`` needs."""
    return coalesce(to_event(shard, seq, envelope, rules) for shard, seq, envelope in batch)
