"""What an erasure reports: its result (the command's table and JSON) and its record's body.

The record holds counts, never keys or values (:mod:`auxeira.operations.erase_ledger`): items
per action and entity, a digest of the erased item keys (keyed hashes), per store what was
removed, what may still hold the subject and until when, and what the final scan looked at.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auxeira.operations.environment import Environment
from auxeira.operations.erase_lake import LakeResult
from auxeira.operations.erase_leftovers import may_still_hold
from auxeira.operations.erase_letters import LetterResult
from auxeira.operations.erase_plan import STEPS, ErasurePlan
from auxeira.operations.erase_scan import ScanResult
from auxeira.operations.erase_settle import Pending
from schemas.erasure import ErasureKeys

__all__ = ["EraseResult", "lake_dict", "letters_dict", "record_body"]


@dataclass
class EraseResult:
    """One run of ``auxeira erase``: its plan, and how far it got (``problem``: not finished)."""

    plan: ErasurePlan
    dry_run: bool
    resumed: bool = False
    preview: dict[str, Any] = field(default_factory=dict)
    pending: Pending | None = None
    scan: ScanResult | None = None
    record_key: str | None = None
    record: dict[str, Any] | None = None
    message: str = ""

    @property
    def problem(self) -> bool:
        return not self.dry_run and self.record is None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "erase": "planned" if self.dry_run else ("problem" if self.problem else "ok"),
            "request_id": self.plan.request_id,
            "subject": self.plan.subject_hash,
            "resumed": self.resumed,
            "message": self.message,
            "lookups": self.plan.lookups,
            "items": [
                {
                    "table": i.table,
                    "entity": i.entity,
                    "key": i.key,
                    "action": i.action,
                    "found_by": i.found_by,
                    **({"outcome": i.outcome} if i.outcome else {}),
                }
                for i in self.plan.items
            ],
            "steps": self.plan.steps,
        }
        if self.dry_run:
            body["preview"] = self.preview
        if self.pending is not None:
            body["pending"] = self.pending.stores
        if self.scan is not None:
            body["scan"] = self.scan.as_dict()
        if self.record is not None:
            body["record"] = {"key": self.record_key, **self.record}
        return body


def record_body(env: Environment, plan: ErasurePlan, keys: ErasureKeys, scan: ScanResult) -> dict[str, Any]:
    """The erasure record's body (what :func:`~auxeira.operations.erase_ledger.append_record` chains)."""
    steps = plan.steps
    written = [i for i in plan.items if i.written_at is not None]
    last = max((i.written_at or 0.0 for i in written), default=None)
    owned = sorted(keys.item_hash(i.entity, i.key) for i in plan.items if i.relation == "owned")
    return {
        "record": "erasure",
        "format": 1,
        "request_id": plan.request_id,
        "env": plan.env,
        "subject": plan.subject_hash,
        "pseudonym": plan.pseudonym,
        "requested_by": plan.requested_by,
        "reason": plan.reason,
        "requested_at": plan.requested_at,
        "completed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ledger": f"{plan.subject_hash}.json",
        "removed": {
            "source_tables": {
                **plan.counts(),
                "outcomes": {k: v for k, v in steps.get("source", {}).items() if k != "done"},
                "erased_items_digest": hashlib.sha256("\n".join(owned).encode()).hexdigest(),
            },
            **{
                s: {k: v for k, v in steps.get(s, {}).items() if k != "done"}
                for s in STEPS
                if s not in ("source", "settle", "scan")
            },
        },
        "lookups": [{k: v for k, v in lookup.items() if k != "detail"} for lookup in plan.lookups],
        "may_still_hold": may_still_hold(env, {i.table for i in written}, last),
        "scan": {"clean": scan.clean, "scanned": dict(scan.scanned)},
    }


def lake_dict(found: LakeResult) -> dict[str, Any]:
    return {**found.totals(), "objects": [c.as_dict() for c in found.changes]}


def letters_dict(found: LetterResult) -> dict[str, Any]:
    return {
        **found.totals(),
        "dead_letters": found.dead_letters,
        "failure_records_rewritten": found.failure_records_rewritten,
        "failure_records_deleted": found.failure_records_deleted,
        "redriven": found.redriven,
    }
