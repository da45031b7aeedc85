"""What ``auxeira verify`` finds: drifted entries by key, per projection, and what a repair did.

A drift is one key of one projection that differs from the source tables:

* ``missing``: an item exists, its entry does not (or the counter item is absent);
* ``extra``: an entry with no item behind it (a live cache entry or search document
  whose item is gone, a counter item holding counts nobody makes);
* ``stale``: the entry holds an older version, or the same version with another state
  (corrupted), or counters that differ from a recount.

A drift carries what its repair needs: the item's table and key, the order the entry is
stored at (a repair must outrank it), or, for counters, the corrective delta.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "CounterFix", "Drift", "ProjectionResult", "RepairResult", "VerifyReport"]

KINDS = ("missing", "extra", "stale")


@dataclass(frozen=True)
class CounterFix:
    """The correction of one counter item: ADD ``adds``, SET ``sets``, REMOVE ``removes``, on
    condition that every attribute touched still holds ``stored`` (None: absent)."""

    tenant: str
    parent_key: str
    adds: dict[str, Any] = field(default_factory=dict)
    sets: dict[str, Any] = field(default_factory=dict)
    removes: tuple[str, ...] = ()
    stored: dict[str, Any] = field(default_factory=dict)
    item_exists: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "parent_key": self.parent_key,
            "add": {k: str(v) for k, v in self.adds.items()},
            "set": {k: str(v) for k, v in self.sets.items()},
            "remove": list(self.removes),
        }


@dataclass(frozen=True)
class Drift:
    """One drifted key (see the module docstring)."""

    projection: str
    kind: str
    key: str
    reason: str
    table: str | None = None
    item_key: str | None = None
    tenant: str | None = None
    entity: str | None = None
    stored_order: int | None = None
    fix: CounterFix | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "key": self.key, "reason": self.reason}
        if self.table:
            out.update(table=self.table, item_key=self.item_key)
        return out


@dataclass
class ProjectionResult:
    """One projection's comparison."""

    projection: str
    sampled: bool = False
    items_checked: int = 0
    entries_checked: int = 0
    drifts: list[Drift] = field(default_factory=list)
    #: Items the router would refuse (no tenant, no entity): not drift, but worth a look.
    findings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {kind: sum(1 for d in self.drifts if d.kind == kind) for kind in KINDS}

    def as_dict(self) -> dict[str, Any]:
        return {
            "sampled": self.sampled,
            "items_checked": self.items_checked,
            "entries_checked": self.entries_checked,
            **self.counts(),
            "drifts": [d.as_dict() for d in self.drifts],
            "findings": list(self.findings),
        }


@dataclass
class RepairResult:
    """What ``--repair`` (or ``--dry-run``) did or would do."""

    dry_run: bool
    envelopes: list[dict[str, Any]] = field(default_factory=list)
    counter_fixes: list[dict[str, Any]] = field(default_factory=list)
    emitted: int = 0
    emit_failures: list[str] = field(default_factory=list)
    counters_fixed: int = 0
    unrepairable: list[str] = field(default_factory=list)
    waited_seconds: float = 0.0
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "emit": self.envelopes,
            "counters": self.counter_fixes,
            "emitted": self.emitted,
            "emit_failures": self.emit_failures,
            "counters_fixed": self.counters_fixed,
            "unrepairable": self.unrepairable,
            "waited_seconds": round(self.waited_seconds, 2),
            "message": self.message,
        }


@dataclass
class VerifyReport:
    """A verify run: the first comparison, the repair, and the comparison after it."""

    env: str
    results: dict[str, ProjectionResult] = field(default_factory=dict)
    repair: RepairResult | None = None
    after: dict[str, ProjectionResult] | None = None

    @property
    def drift(self) -> int:
        return sum(len(r.drifts) for r in self.results.values())

    @property
    def remaining(self) -> int:
        """Drift left at the end: after the repair when there was one, else what was found."""
        final = self.after if self.after is not None else self.results
        return sum(len(r.drifts) for r in final.values())

    @property
    def outcome(self) -> str:
        if not self.drift:
            return "ok"
        return "repaired" if self.after is not None and not self.remaining else "drift"

    def as_dict(self) -> dict[str, Any]:
        return {
            "verify": self.outcome,
            "env": self.env,
            "drift": self.drift,
            "remaining": self.remaining,
            "projections": {name: r.as_dict() for name, r in self.results.items()},
            "repair": None if self.repair is None else self.repair.as_dict(),
            "after": None if self.after is None else {name: r.as_dict() for name, r in self.after.items()},
        }
