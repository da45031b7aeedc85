"""Counter rules: which item adds what to which parent's counters. Declarative, pure.

A :class:`CounterRule` says "every ``child`` item pointing at a ``parent`` through
``parent_attr`` contributes to the parent's ``counter``", with one of five kinds:

* ``COUNT``: 1 per live item;
* ``SUM``: the item's ``field`` (times ``sign``, so a balance is earned minus spent);
* ``MAX``: the largest ``field`` value seen;
* ``HISTOGRAM``: one per live item in the bucket of its ``field`` value, stored as a
  number attribute per value
  (:func:`~consumers.projections.counter_items.histogram_attr`), so the largest and
  smallest live values can be read back after any delete;
* ``LATEST``: the ``field`` of the newest state by envelope version, kept beside that
  version; a rule of an entity on itself (``loan -> loan``) puts a parent's own
  state (the loan's target ``amount``) on its counter item.

A *live* item exists and is not soft-deleted (no ``deleted_at``); ``where`` narrows
it further (``registrations_count`` leaves cancelled registrations out). ``COUNT``,
``SUM`` and ``HISTOGRAM`` are invertible: a delete, a soft delete or a move to another
parent takes the contribution back, so they are kept by deltas (contribution after
minus contribution before, see :mod:`consumers.projections.counters`).

``MAX`` is not invertible, so it means "largest value seen", never lowered: deleting
the newest activity leaves ``last_activity_at`` where it was (the startup *was*
active then). The drift check accordingly asserts only ``stored >= max(live items)``.
``LATEST`` ignores ``deleted_at`` (a soft-deleted loan still had its target); only a
removal clears it, at the removal's version, so a late older state cannot bring it back.

The loan's funding figures (issue 4) are ``loan_participant -> loan`` rules plus the
loan's own ``amount``; the ratios and extremes among
:data:`~schemas.entities.lending.LOAN_COMPUTED_FIELDS` are computed when read
(:func:`consumers.projections.counter_items.loan_summary`), never stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeAlias, TypedDict

from schemas import catalog
from schemas.wire.json_values import from_json

__all__ = [
    "RULES",
    "CounterRule",
    "FieldIn",
    "Kind",
    "Number",
    "canonical_time",
    "catalog_problems",
    "contribution",
    "counter_fields",
    "parent_key",
    "rules_for",
    "split_parent_key",
]

Number: TypeAlias = int | Decimal

#: Separates the parent's label from its id in a parent key (``STARTUP#s1``).
PARENT_SEPARATOR = "#"


class Kind(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    HISTOGRAM = "histogram"
    LATEST = "latest"


@dataclass(frozen=True, slots=True)
class FieldIn:
    """A predicate on a child's state: ``state[field]`` is (or, negated, is not) one of ``values``.

    ``missing`` stands for an absent field (a participant without ``status`` is pending,
    as the model's default and :func:`~schemas.entities.lending.funding_summary` say).
    """

    field: str
    values: frozenset[Any]
    negate: bool = False
    missing: Any = None

    def __call__(self, state: Mapping[str, Any]) -> bool:
        return (state.get(self.field, self.missing) in self.values) != self.negate


@dataclass(frozen=True, slots=True)
class CounterRule:
    """One contribution of a child entity to a counter of its parent.

    Args:
        child: entity name of the counted item (``"activity"``).
        parent_attr: the child's attribute holding the parent's id (``"startup_id"``).
        parent: entity name of the parent (``"startup"``).
        counter: attribute of the parent's counter item (``"activities_count"``).
        kind: count, sum, max, histogram or latest.
        field: the child's attribute counted by value (None for a count).
        sign: +1, or -1 to subtract (sums only).
        where: only children matching it contribute.
    """

    child: str
    parent_attr: str
    parent: str
    counter: str
    kind: Kind = Kind.COUNT
    field: str | None = None
    sign: int = 1
    where: FieldIn | None = None

    def __post_init__(self) -> None:
        if (self.kind is Kind.COUNT) != (self.field is None):
            raise ValueError(f"{self.counter}: a count has no field, every other kind needs one")
        if self.sign not in (1, -1) or (self.sign == -1 and self.kind is not Kind.SUM):
            raise ValueError(f"{self.counter}: sign must be 1, or -1 on a sum")


class _Link(TypedDict):
    """The child -> parent link that several rules share (``CounterRule(**link, ...)``)."""

    child: str
    parent_attr: str
    parent: str


_ACTIVITY: _Link = {"child": "activity", "parent_attr": "startup_id", "parent": "startup"}
_PARTICIPANT: _Link = {"child": "loan_participant", "parent_attr": "loan_id", "parent": "loan"}
_ACCEPTED = FieldIn("status", frozenset({"accepted"}))

#: Every counter the projection keeps. Tokens are counted from activities only: the
#: activity is the token ledger (earned and spent per action); chatbot messages and
#: submissions record an award that a service books as an activity.
RULES: tuple[CounterRule, ...] = (
    CounterRule(counter="activities_count", **_ACTIVITY),
    CounterRule(counter="aux_tokens_earned_total", kind=Kind.SUM, field="aux_tokens_earned", **_ACTIVITY),
    CounterRule(counter="aux_tokens_spent_total", kind=Kind.SUM, field="aux_tokens_spent", **_ACTIVITY),
    CounterRule(counter="aux_token_balance", kind=Kind.SUM, field="aux_tokens_earned", **_ACTIVITY),
    CounterRule(counter="aux_token_balance", kind=Kind.SUM, field="aux_tokens_spent", sign=-1, **_ACTIVITY),
    CounterRule(counter="last_activity_at", kind=Kind.MAX, field="timestamp", **_ACTIVITY),
    CounterRule("document", "startup_id", "startup", "documents_count"),
    CounterRule("chatbot_conversation", "startup_id", "startup", "conversations_count"),
    CounterRule(
        "event_registration",
        "event_id",
        "event",
        "registrations_count",
        where=FieldIn("status", frozenset({"cancelled"}), negate=True),
    ),
    CounterRule("partner_activation", "partner_id", "partner", "activations_count"),
    CounterRule("user_session", "user_id", "user", "sessions_count"),
    # The loan's funding figures (issue 4): only accepted, live participants fund it.
    CounterRule(counter="participant_count", **_PARTICIPANT),
    CounterRule(counter="accepted_participant_count", where=_ACCEPTED, **_PARTICIPANT),
    CounterRule(
        counter="pending_participant_count",
        **_PARTICIPANT,
        where=FieldIn("status", frozenset({"pending"}), missing="pending"),
    ),
    CounterRule(counter="total_funded", kind=Kind.SUM, field="contribution_amount", where=_ACCEPTED, **_PARTICIPANT),
    CounterRule(
        counter="contributions", kind=Kind.HISTOGRAM, field="contribution_amount", where=_ACCEPTED, **_PARTICIPANT
    ),
    # The target the ratios divide by: the loan's own amount, newest version wins.
    CounterRule("loan", "loan_id", "loan", "target_amount", Kind.LATEST, "amount"),
)


def _index(rules: Iterable[CounterRule]) -> dict[str, tuple[CounterRule, ...]]:
    out: dict[str, list[CounterRule]] = {}
    for rule in rules:
        out.setdefault(rule.child, []).append(rule)
    return {child: tuple(group) for child, group in out.items()}


_BY_CHILD = _index(RULES)


def rules_for(child: str, rules: tuple[CounterRule, ...] = RULES) -> tuple[CounterRule, ...]:
    """The rules of one child entity (empty for an entity nothing counts)."""
    index = _BY_CHILD if rules is RULES else _index(rules)
    return index.get(child, ())


def parent_key(parent: str, parent_id: Any) -> str:
    """The key of a parent's counter item within its tenant: ``STARTUP#s1``.

    The label is the entity name in capitals, which for every parent in the catalog
    is also the prefix of its own partition key, so the id an operator sees in the
    startups table (``STARTUP#s1``) is what ``auxeira counters get`` takes.
    """
    return f"{parent.upper()}{PARENT_SEPARATOR}{parent_id}"


def split_parent_key(key: str) -> tuple[str, str]:
    """``"STARTUP#s1"`` -> ``("startup", "s1")`` (raises ValueError without a ``#``)."""
    label, sep, parent_id = key.partition(PARENT_SEPARATOR)
    if not sep or not label or not parent_id:
        raise ValueError(f"{key!r} is not a parent key like STARTUP#<id>")
    return label.lower(), parent_id


def counter_fields(parent: str, rules: tuple[CounterRule, ...] = RULES) -> dict[str, Kind]:
    """Counter name -> kind for one parent entity, in rule order."""
    return {r.counter: r.kind for r in rules if r.parent == parent}


def catalog_problems(rules: tuple[CounterRule, ...], entities: Mapping[str, Any]) -> list[str]:
    """Rules that disagree with the catalog's ``EntitySpec.parents`` (empty when all agree).

    A rule of an entity on itself needs ``parent_attr`` in the entity's own partition key.
    """
    problems: list[str] = []
    for rule in rules:
        spec = entities.get(rule.child)
        if spec is None:
            problems.append(f"{rule.counter}: unknown child entity {rule.child!r}")
        elif rule.child == rule.parent:
            if f"{{{rule.parent_attr}}}" not in (spec.pk or ""):
                problems.append(f"{rule.counter}: {rule.child}.{rule.parent_attr} is not in its own key")
        elif spec.parents.get(rule.parent_attr) != rule.parent:
            problems.append(
                f"{rule.counter}: {rule.child}.{rule.parent_attr} is not a parent "
                f"link to {rule.parent!r} in the catalog"
            )
    kinds: dict[tuple[str, str], Kind] = {}
    for rule in rules:
        if kinds.setdefault((rule.parent, rule.counter), rule.kind) is not rule.kind:
            problems.append(f"{rule.parent}.{rule.counter}: rules of different kinds share it")
    return problems


# -- one state's contribution to one rule ------------------------------------------------------


def canonical_time(value: Any) -> str:
    """A timestamp as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, so string order is time order.

    Raises:
        ValueError: not an ISO-8601 string or datetime.
    """
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def contribution(rule: CounterRule, state: Mapping[str, Any] | None, tenant: str) -> tuple[str, str, Any] | None:
    """``(tenant, parent key, value)`` that one state of a child gives a rule, or None.

    None when there is no state (removed), no parent, ``where`` excludes it, it is
    soft-deleted (not for ``MAX`` and ``LATEST``), or a field-valued kind other than a sum
    has no value. The value is 1 for a count, the signed number for a sum, the canonical
    time for a max, the number for a histogram, the number or string for a latest.
    The tenant is the state's own, so an item moved to another tenant leaves the old
    one's counters; ``tenant`` is the fallback.

    Raises:
        TypeError, ValueError: the field has the wrong type.
    """
    if state is None:
        return None
    parent_id = state.get(rule.parent_attr)
    if parent_id is None or parent_id == "":
        return None
    if rule.where is not None and not rule.where(state):
        return None
    if rule.kind not in _KEEP_SOFT_DELETED and state.get("deleted_at"):
        return None
    owner = str(state.get(_tenant_attr(rule.child)) or tenant)
    where = parent_key(rule.parent, parent_id)
    if rule.kind is Kind.COUNT:
        return owner, where, 1
    raw = state.get(rule.field)  # type: ignore[arg-type]
    if rule.kind is Kind.SUM:
        return owner, where, rule.sign * _number(raw)
    if raw is None:
        return None
    if rule.kind is Kind.MAX:
        return owner, where, canonical_time(raw)
    if rule.kind is Kind.LATEST and isinstance(raw, str):
        return owner, where, raw
    return owner, where, _number(raw)


_KEEP_SOFT_DELETED = frozenset({Kind.MAX, Kind.LATEST})


def _number(value: Any) -> Number:
    if value is None:
        return 0
    if isinstance(value, dict):  # a number beyond a double or int64, as the envelope carries it
        value = from_json(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(f"{value!r} is not a number")
    if isinstance(value, float):
        # DynamoDB numbers are decimal; repr keeps the value the item holds.
        value = Decimal(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return value


_TENANT_ATTRS: dict[str, str] = {}


def _tenant_attr(entity: str) -> str:
    attr = _TENANT_ATTRS.get(entity)
    if attr is None:
        spec = catalog.ENTITIES.get(entity)
        attr = _TENANT_ATTRS[entity] = spec.tenant_attr if spec else "tenant_id"
    return attr
