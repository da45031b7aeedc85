"""How a drill measures its end: drift by ``verify``, and what was lost against the workload's ledger.

* **drift**: :func:`auxeira.operations.verify.run_verify` over every projection (cache,
  search, counters), the very comparison ``auxeira verify --projection all`` prints:
  missing + extra + stale entries by key.
* **lost**: an event the workload wrote that is not in the lake's raw archive (the
  archiver keeps every event, at its ``(tenant, entity, key, version)``), plus an item
  whose newest written version the cache does not hold (the cache keeps every entity).
  This is counted from the ledger, not from the tables, so it would also catch a write
  the tables and every projection agree to have forgotten.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from auxeira.operations.environment import Environment
from auxeira.operations.verify import PROJECTIONS, VerifyOptions, run_verify
from auxeira.operations.verify_report import KINDS, VerifyReport
from auxeira.runtime.bus import envelopes_of
from auxeira.runtime.dead_letters import DeadLetter
from auxeira.runtime.objects import ObjectStore
from bench.drill_workload import Ledger, Written
from consumers.projections.cache import cache_key
from consumers.sinks.archive_layout import payload_of
from schemas.envelope import Envelope, decode, version_of_order
from schemas.resources import LAKE

__all__ = ["Losses", "archived", "counts", "dead_letters", "drift", "drifted", "letter_envelopes", "losses"]


def drift(env: Environment) -> VerifyReport:
    """``verify`` of every projection (its ``drift`` is missing + extra + stale over all of them)."""
    return run_verify(env, PROJECTIONS, VerifyOptions())


def drifted(report: VerifyReport) -> dict[str, set[tuple[str | None, ...]]]:
    """Projection -> ``(kind, tenant, entity, item key)`` of every drift verify found (only projections with drift)."""
    return {
        name: {(d.kind, d.tenant, d.entity, d.item_key) for d in r.drifts}
        for name, r in report.results.items()
        if r.drifts
    }


def archived(objects: ObjectStore) -> Iterator[Envelope]:
    """Every envelope in the lake's raw archive (snapshots and redeliveries included)."""
    for key in objects.list(f"{LAKE.raw}/"):
        if key.endswith(".jsonl.gz"):
            for line in gzip.decompress(objects.get(key)).splitlines():
                if line.strip():
                    yield decode(payload_of(line))


@dataclass
class Losses:
    """What a drill lost: events absent from the lake, items whose newest write the cache lacks."""

    not_archived: list[Written] = field(default_factory=list)
    not_cached: list[Written] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.not_archived) + len(self.not_cached)


def losses(ledger: Ledger, env: Environment) -> Losses:
    """The ledger against the lake and the cache (see the module docstring)."""
    seen = {(e.tenant_id, e.entity, e.key, e.version, e.after is None) for e in archived(env.objects)}
    found = Losses([w for w in ledger.written if (w.tenant, w.entity, w.key, w.version, w.deleted) not in seen])
    newest: dict[tuple[str, str, str], Written] = {}
    for w in ledger.written:
        slot = (w.tenant, w.entity, w.key)
        if slot not in newest or w.version >= newest[slot].version:
            newest[slot] = w
    cache = env.sink("cache")
    for w in newest.values():
        entry = cache.get(cache_key(env.name, w.tenant, w.entity, w.key))
        if w.deleted:  # absent is right too: a rebuilt cache keeps no tombstone
            bad = entry is not None and not entry.tombstone
        else:
            bad = entry is None or entry.tombstone or version_of_order(entry.version) < w.version
        if bad:
            found.not_cached.append(w)
    return found


def dead_letters(env: Environment, consumer: str | None = None) -> list[DeadLetter]:
    return list(env.dead_letters().list(consumer))


def letter_envelopes(letters: Iterable[DeadLetter]) -> list[Envelope]:
    """The envelopes the letters' records carry (their payload, as it would be redriven)."""
    return [e for letter in letters for e in envelopes_of(base64.b64decode(letter.record["kinesis"]["data"]))]


def counts(report: VerifyReport) -> dict[str, int]:
    """missing / extra / stale over every projection."""
    return {kind: sum(r.counts()[kind] for r in report.results.values()) for kind in KINDS}


def describe(items: Iterable[Any], shown: int = 5) -> list[str]:
    found = [str(i) for i in items]
    return found[:shown] + ([f"... {len(found) - shown} more"] if len(found) > shown else [])
