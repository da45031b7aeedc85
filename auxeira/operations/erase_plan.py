"""An erasure's plan: what it deletes and pseudonymizes, and how far it got (kept for a rerun).

The plan is built once (:func:`build_plan`), stored under ``_erasures/in-progress/`` before
anything is changed, and updated as steps finish, so a kill -9 at any point resumes where
it stopped: a rerun of the same ``auxeira erase --subject`` finds the plan by the subject's
keyed hash and goes on. Nothing in it is applied twice in effect: a delete of an item
already gone is done, a pseudonymized item is read back and found to need nothing, lake
objects already rewritten hold nothing to remove.

The stored plan holds the subject's item keys (they may contain its id: ``USER#u1|PROFILE``)
and, for its pii values, only their keyed hashes and the lake's tokens of them: the values
themselves are held in memory by the run that read them. A resumed run whose source items
are gone already still recognises the values by their hashes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from auxeira.operations.erase_find import Found, find_items
from auxeira.operations.erase_ledger import IN_PROGRESS
from auxeira.runtime.objects import ObjectStore
from glue_jobs.pii import Tokenizer
from schemas.erasure import ErasureKeys, Matcher
from schemas.tables import TableSpec

__all__ = ["STEPS", "ErasurePlan", "PlannedItem", "build_plan", "load_plan", "merge_found", "save_plan"]

#: The steps of an erasure after its plan, in order (see :mod:`auxeira.operations.erase`).
STEPS = (
    "source",
    "settle",
    "cache",
    "search",
    "counters",
    "history",
    "raw",
    "curated",
    "current",
    "dead_letters",
    "scan",
)


@dataclass
class PlannedItem:
    """One source item to delete (owned) or to pseudonymize (shared, audit).

    Attributes:
        table: the physical table name.
        version: the item's version when planned.
        written_version: the version the erasure's write left (an update's new one, a
            delete's removed one), which the projections must reach.
        outcome: ``deleted``, ``pseudonymized``, ``gone`` (not there any more), ``clean``
            (nothing left to change), or empty while not done.
    """

    table: str
    entity: str
    key: str
    tenant: str
    relation: str
    found_by: str
    version: int | None = None
    written_version: int | None = None
    written_at: float | None = None
    outcome: str = ""

    @property
    def action(self) -> str:
        return "delete" if self.relation == "owned" else "pseudonymize"

    @property
    def done(self) -> bool:
        return bool(self.outcome)


@dataclass
class ErasurePlan:
    """Everything an erasure decided, and its progress."""

    request_id: str
    subject_hash: str
    pseudonym: str
    env: str
    requested_by: str
    reason: str
    requested_at: str
    items: list[PlannedItem]
    lookups: list[dict[str, Any]]
    pii_hashes: list[str]
    pii_tokens: list[str]
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    started_at: float = 0.0

    @property
    def key(self) -> str:
        return f"{IN_PROGRESS}{self.subject_hash}.json"

    def owned_keys(self) -> set[tuple[str, str]]:
        return {(i.entity, i.key) for i in self.items if i.relation == "owned"}

    def step_done(self, step: str) -> bool:
        return bool(self.steps.get(step, {}).get("done"))

    def finish(self, step: str, **counts: Any) -> None:
        self.steps[step] = {**counts, "done": True}

    def reopen(self, steps: Iterable[str]) -> None:
        for step in steps:
            self.steps.pop(step, None)

    def counts(self) -> dict[str, dict[str, int]]:
        """Items per action and entity (what the record keeps: counts, never keys)."""
        out: dict[str, Counter[str]] = {"delete": Counter(), "pseudonymize": Counter()}
        for item in self.items:
            out[item.action][item.entity] += 1
        return {action: dict(sorted(c.items())) for action, c in out.items()}

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, body: bytes) -> ErasurePlan:
        data = orjson.loads(body)
        data["items"] = [PlannedItem(**i) for i in data["items"]]
        return cls(**data)


def build_plan(
    client: Any,
    tables: Iterable[TableSpec],
    table_name: Callable[[TableSpec], str],
    subject: str,
    keys: ErasureKeys,
    tokenizer: Tokenizer,
    matcher: Callable[[Iterable[str]], Matcher],
    *,
    env: str,
    requested_by: str,
    reason: str,
    segments: int = 4,
) -> tuple[ErasurePlan, list[str]]:
    """Read the tables and decide (:mod:`auxeira.operations.erase_find`); ``(plan, pii values)``.

    Items are ordered so that what others share is pseudonymized first and the subject's
    own items go last, the profile (where its pii values are read from) very last: a run
    killed half-way still finds the rest when it is rerun.
    """
    found, lookups, pii = find_items(client, tables, table_name, subject, matcher, segments=segments)
    items = [_planned(f, table_name(f.table)) for f in sorted(found, key=_order)]
    now = datetime.now(UTC).isoformat(timespec="seconds")
    plan = ErasurePlan(
        request_id=str(uuid.uuid4()),
        subject_hash=keys.subject_hash(subject),
        pseudonym=keys.pseudonym(subject),
        env=env,
        requested_by=requested_by,
        reason=reason,
        requested_at=now,
        items=items,
        lookups=[asdict(lookup) for lookup in lookups],
        pii_hashes=sorted(keys.value_hash(v) for v in pii),
        pii_tokens=sorted(tokenizer.token(v) for v in pii),
    )
    return plan, pii


def merge_found(plan: ErasurePlan, found: Iterable[Found], table_name: Callable[[TableSpec], str]) -> list[PlannedItem]:
    """Take items found about the subject *after* the plan was made into it; returns them.

    An item new to the plan (the subject logged in while being erased: a new session) is
    appended; an item the plan holds as done that is about the subject again (deleted, then
    written again under the same key) is made pending again. Either is applied by the next
    source step; an item the plan holds and has not applied yet is left as it is.
    """
    by_key = {(i.table, i.key): i for i in plan.items}
    taken: list[PlannedItem] = []
    for f in sorted(found, key=_order):
        planned = _planned(f, table_name(f.table))
        known = by_key.get((planned.table, planned.key))
        if known is None:
            plan.items.append(planned)
            taken.append(planned)
        elif known.done:
            known.relation, known.version, known.outcome = planned.relation, planned.version, ""
            known.written_version = known.written_at = None
            taken.append(known)
    return taken


def _order(found: Found) -> tuple[int, int, str, str]:
    owned = found.relation == "owned"
    profile = found.entity.name in ("user", "assistant_user", "member")
    return (owned, profile, found.table.name, found.key)


def _planned(found: Found, table: str) -> PlannedItem:
    version = found.item.get("version")
    return PlannedItem(
        table=table,
        entity=found.entity.name,
        key=found.key,
        tenant=found.tenant,
        relation=found.relation,
        found_by=found.found_by,
        version=version if isinstance(version, int) else None,
    )


def save_plan(objects: ObjectStore, plan: ErasurePlan) -> None:
    """Store the plan (one atomic put: a kill leaves the previous state or this one)."""
    objects.put(plan.key, plan.to_json())


def load_plan(objects: ObjectStore, subject_hash: str) -> ErasurePlan | None:
    key = f"{IN_PROGRESS}{subject_hash}.json"
    return ErasurePlan.from_json(objects.get(key)) if objects.exists(key) else None
