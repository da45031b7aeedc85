"""Counter items as stored (attribute names included), what a sink did to them, and what
is computed from them when read. Pure.

A counter item holds only what can be kept exactly under redelivery and reordering:
ADDed numbers, raised maxes, histogram buckets and latest values beside their version.
Ratios and extremes are derived here, on every read, from those stored figures: a
stored ratio would need the newest total and the newest target at once, which no
single conditional UpdateItem can promise when participants and the loan change in
different batches. The loan's figures (issue 4) follow
:func:`schemas.entities.lending.funding_summary` exactly: Decimal arithmetic, ratios
rounded half up to two places.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from consumers.projections.counter_rules import Number, split_parent_key
from schemas.entities.lending import LOAN_COMPUTED_FIELDS

__all__ = [
    "COMPUTED",
    "HISTOGRAM_PREFIX",
    "VERSION_PREFIX",
    "CounterItem",
    "Latest",
    "WriteOutcome",
    "WriteStats",
    "computed_fields",
    "histogram_attr",
    "item_key",
    "loan_summary",
    "parse_histogram_attr",
]

#: Starts the attribute holding a latest counter's version: ``ver#target_amount``.
VERSION_PREFIX = "ver#"
#: Starts the attribute of one histogram bucket: ``hist#<counter>#<value code>``.
HISTOGRAM_PREFIX = "hist#"

#: A latest counter's state: ``(version, value)``; a None value means "absent".
Latest = tuple[int, Any]


@dataclass(frozen=True)
class CounterItem:
    """What a counters table holds for one parent.

    ``values`` holds every stored attribute but the keys and watermarks: the counters,
    a latest counter's version as ``ver#<counter>``, and histogram buckets as
    ``hist#<counter>#<value>`` (see :func:`histogram_attr`).
    """

    tenant: str
    parent_key: str
    values: dict[str, Any] = field(default_factory=dict)
    watermarks: dict[str, str] = field(default_factory=dict)

    def version(self, counter: str) -> int | None:
        """The version a latest counter was last set or cleared at (None: never)."""
        return self.values.get(VERSION_PREFIX + counter)

    def histogram(self, counter: str) -> dict[Decimal, int]:
        """Value -> count of a histogram counter, positive counts only, in value order.

        A bucket whose items all left holds 0 (an ADD cannot remove the attribute), so
        zeros are skipped here.
        """
        out: dict[Decimal, int] = {}
        for name, count in self.values.items():
            bucket = parse_histogram_attr(name)
            if bucket is not None and bucket[0] == counter and count > 0:
                out[bucket[1]] = int(count)
        return dict(sorted(out.items()))


class WriteOutcome(StrEnum):
    """What a sink did with one :class:`CounterUpdate`."""

    APPLIED = "applied"  # every part written
    RESUMED = "resumed"  # an earlier delivery had written some parts; the rest written now
    REPLAYED = "replayed"  # every part was already written: a no-op


@dataclass
class WriteStats:
    """What a counters sink did so far (both sinks keep one, as ``sink.stats``).

    Attributes:
        writes: write calls that reached the store (UpdateItem calls, conditional
            failures and retries included; one per applied update in memory).
        conditional_failures: UpdateItems whose condition failed (a replay, a resume,
            or a max or latest counter that was not newer); each costs a write on DynamoDB.
        throttled: throttled or failed calls that were retried.
    """

    applied: int = 0
    resumed: int = 0
    replayed: int = 0
    failed: int = 0
    writes: int = 0
    conditional_failures: int = 0
    throttled: int = 0

    def count(self, outcome: WriteOutcome | BaseException) -> None:
        name = outcome.value if isinstance(outcome, WriteOutcome) else "failed"
        setattr(self, name, getattr(self, name) + 1)


def histogram_attr(counter: str, value: Number) -> str:
    """The attribute of ``value``'s bucket: ``hist#contributions#2500_5`` for 2500.50.

    Names go through expression placeholders, but digits, ``_`` (the point) and ``m``
    (the minus) keep them safe in any tool and in a ``#``-separated name. Plain notation
    without trailing zeros puts equal values (``2500.5``, ``2500.50``, ``25005E-1``) in
    one bucket.
    """
    text = format(Decimal(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return f"{HISTOGRAM_PREFIX}{counter}#{text.replace('-', 'm').replace('.', '_')}"


def parse_histogram_attr(name: str) -> tuple[str, Decimal] | None:
    """``"hist#contributions#2500_5"`` -> ``("contributions", Decimal("2500.5"))``; None if not a bucket."""
    if not name.startswith(HISTOGRAM_PREFIX):
        return None
    counter, sep, code = name[len(HISTOGRAM_PREFIX) :].rpartition("#")
    if not sep or not counter:
        return None
    try:
        return counter, Decimal(code.replace("m", "-").replace("_", "."))
    except ArithmeticError:
        return None


def item_key(tenant: str, parent: str) -> str:
    """Partition key of a counter item: the tenant, then the parent key (``t1#STARTUP#s1``)."""
    return f"{tenant}#{parent}"


# -- computed when read ------------------------------------------------------------------------


def loan_summary(item: CounterItem | None) -> dict[str, Any]:
    """Every name of :data:`~schemas.entities.lending.LOAN_COMPUTED_FIELDS`, from a loan's counters.

    Equal to ``funding_summary(loan.amount, participants)`` over the tables once the
    counters have caught up. ``funding_percentage`` and ``is_fully_funded`` are None
    while the loan's ``target_amount`` is unknown (its participants' events came first,
    or the loan was deleted); the contribution statistics are None without an accepted
    participant.
    """
    values = item.values if item is not None else {}
    total = Decimal(values.get("total_funded", 0))
    accepted = int(values.get("accepted_participant_count", 0))
    amounts = item.histogram("contributions") if item is not None else {}
    raw_target = values.get("target_amount")
    target = None if raw_target is None else Decimal(raw_target)
    summary = {
        "total_funded": total,
        "funding_percentage": None if target is None else _cents(total * 100 / target) if target else Decimal(0),
        "participant_count": int(values.get("participant_count", 0)),
        "accepted_participant_count": accepted,
        "pending_participant_count": int(values.get("pending_participant_count", 0)),
        "is_fully_funded": None if target is None else total >= target,
        "average_contribution": _cents(total / accepted) if accepted else None,
        "largest_contribution": max(amounts) if amounts else None,
        "smallest_contribution": min(amounts) if amounts else None,
    }
    return {name: summary[name] for name in LOAN_COMPUTED_FIELDS}


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


#: Parent entity -> its computed fields, for the CLI and the drift check.
COMPUTED: dict[str, Callable[[CounterItem | None], dict[str, Any]]] = {"loan": loan_summary}


def computed_fields(item: CounterItem) -> dict[str, Any] | None:
    """The read-time fields of an item's parent (None for parents that have none)."""
    compute = COMPUTED.get(split_parent_key(item.parent_key)[0])
    return None if compute is None else compute(item)
