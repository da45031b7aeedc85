"""``auxeira verify``: compare projections with the source tables, and repair exactly what drifted.

Steps of :func:`run_verify`, in this order:

1. **compare**: every source table is read once, segmented and streaming
   (:mod:`auxeira.operations.verify_scan`; all items, or a random sample), and each page
   goes to every projection asked for (:mod:`~auxeira.operations.verify_cache`,
   :mod:`~auxeira.operations.verify_search`, :mod:`~auxeira.operations.verify_counters`);
   then each projection's own entries are read for entries with no item (``extra``);
2. **plan** (``--repair`` or ``--dry-run``): a snapshot (or a delete) per drifted cache or
   search item, ordered to outrank the drifted entry, and a corrective delta per drifted
   counter item (:mod:`~auxeira.operations.verify_repair`); ``--dry-run`` stops here and
   shows the plan;
3. **repair**: counters are corrected in place; the envelopes go on the events stream;
4. **wait**: while a consumer applies them (a local runner holding its leases, or the
   deployed mappings), the drifted keys are re-checked until they are right or the wait
   ends; with no local runner, it says to run one;
5. **verify again**: the whole comparison again (a sample's drifted keys again).

The comparison reads a moving target: a change the consumers have not applied yet looks
like drift. Run it when ``auxeira status`` shows nothing behind, or read drift that a
second run no longer reports as lag.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auxeira.operations.emit import emit
from auxeira.operations.environment import CONSUMERS, Environment
from auxeira.operations.verify_cache import CacheCheck
from auxeira.operations.verify_counters import CounterCheck, apply_fix
from auxeira.operations.verify_lookup import ItemLookup
from auxeira.operations.verify_repair import describe, plan_envelopes
from auxeira.operations.verify_report import ProjectionResult, RepairResult, VerifyReport
from auxeira.operations.verify_scan import DEFAULT_SEGMENTS, table_pages
from auxeira.operations.verify_search import SearchCheck
from auxeira.runtime.mapping_runner import runner_is_dead
from consumers.verify import Mismatch, expected_states
from schemas.resources import COUNTERS_TABLE
from schemas.tables import TableSpec

__all__ = ["PROJECTIONS", "VerifyOptions", "compare", "projections_of", "run_verify"]

PROJECTIONS = CONSUMERS
Check = CacheCheck | SearchCheck | CounterCheck


@dataclass(frozen=True)
class VerifyOptions:
    """What to compare and how.

    Attributes:
        sample: N random items per table (and N entries per projection), or None for all.
        segments: parallel Scan segments per table.
        repair, dry_run: repair the drift; only show the plan.
        local: the environment is on the local stack (its consumers run only in ``auxeira run``).
        wait_seconds: how long to wait for the consumers to apply a repair.
        seed: the sample's random seed (None: a fresh one).
    """

    sample: int | None = None
    segments: int = DEFAULT_SEGMENTS
    repair: bool = False
    dry_run: bool = False
    local: bool = True
    wait_seconds: float = 120.0
    poll_seconds: float = 1.0
    seed: int | None = None


def projections_of(choice: str) -> tuple[str, ...]:
    """``cache``, ``search``, ``counters`` or ``all``."""
    if choice == "all":
        return PROJECTIONS
    if choice not in PROJECTIONS:
        raise ValueError(f"no projection {choice!r}; choose one of {', '.join(PROJECTIONS)} or all")
    return (choice,)


def compare(
    env: Environment,
    projections: Sequence[str],
    options: VerifyOptions,
    *,
    sinks: Mapping[str, Any] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> list[Check]:
    """Step 1: every projection's comparison (one read of each table feeds them all)."""
    rng = random.Random(options.seed)
    lookup = ItemLookup(env)
    checks = [_check(env, p, lookup, options, (sinks or {}).get(p)) for p in projections]
    # A recount cannot be sampled: the counters fold every item, and compare a sample of counter items.
    sampled: list[Check] = [c for c in checks if not isinstance(c, CounterCheck)] if options.sample is not None else []
    whole = [c for c in checks if c not in sampled]
    for spec in env.registry.source_tables:
        table = env.table_name(spec)
        for group, sample in ((sampled, options.sample), (whole, None)):
            if group:
                _feed(env, spec, table, group, options.segments, sample, rng)
        if on_progress is not None:
            on_progress(f"compared {table}")
    for check in checks:
        check.check_entries(options.sample, rng)
        if on_progress is not None:
            on_progress(f"checked the {check.projection} entries")
    return checks


def _feed(
    env: Environment,
    spec: TableSpec,
    table: str,
    checks: list[Check],
    segments: int,
    sample: int | None,
    rng: random.Random,
) -> None:
    """One read of one table (every item, or a sample), each page to every check."""
    findings: list[Mismatch] = []
    for page in table_pages(env.dynamodb, table, segments=segments, sample=sample, rng=rng):
        expected = list(expected_states(spec, page, findings=findings))
        for check in checks:
            check.add_items(table, expected)
    for check in checks:
        check.result.findings += [f"{m.key}: {m.reason}" for m in findings]


def run_verify(
    env: Environment,
    projections: Sequence[str],
    options: VerifyOptions,
    *,
    sinks: Mapping[str, Any] | None = None,
    on_progress: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> VerifyReport:
    """The steps of the module docstring; the report's ``remaining`` decides the exit code."""
    checks = compare(env, projections, options, sinks=sinks, on_progress=on_progress)
    report = VerifyReport(env.name, {c.projection: c.result for c in checks})
    drifts = [d for c in checks for d in c.result.drifts]
    if not drifts or not (options.repair or options.dry_run):
        return report
    repair = RepairResult(dry_run=options.dry_run)
    report.repair = repair
    envelopes, repair.unrepairable = plan_envelopes(ItemLookup(env), drifts)
    fixes = [d.fix for d in drifts if d.fix is not None]
    repair.envelopes = [describe(e) for e in envelopes]
    repair.counter_fixes = [f.as_dict() for f in fixes]
    if options.dry_run:
        repair.message = "dry run: nothing was emitted or written"
        return report
    counters_table = COUNTERS_TABLE.physical_name(env.name)
    for drift in drifts:
        if drift.fix is not None and (drift.fix.adds or drift.fix.sets or drift.fix.removes):
            if apply_fix(env.dynamodb, counters_table, drift.fix):
                repair.counters_fixed += 1
            else:
                repair.unrepairable.append(f"{drift.key}: changed while it was being corrected; verify again")
    if envelopes:
        emitted = emit(env, envelopes)
        repair.emitted, repair.emit_failures = emitted.put, [f"{i}: {why}" for i, why in emitted.failed]
        _wait(env, checks, options, repair, clock, sleep)
    report.after = _again(env, checks, projections, options, sinks)
    return report


def _wait(
    env: Environment,
    checks: list[Check],
    options: VerifyOptions,
    repair: RepairResult,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """Step 4: re-check the drifted keys while a consumer applies the re-emitted envelopes."""
    streamed = [c for c in checks if not isinstance(c, CounterCheck) and c.result.drifts]
    if options.local and not _runner_active(env, [c.projection for c in streamed]):
        names = " ".join(sorted(c.projection for c in streamed))
        repair.message = (
            f"{repair.emitted} envelopes are on the stream, but no local runner applies them: "
            f"run `auxeira run --until-idle`, then `auxeira verify` again ({names})"
        )
        return
    started = clock()
    pending = [(c, d) for c in streamed for d in c.result.drifts]
    while pending and clock() - started < options.wait_seconds:
        sleep(options.poll_seconds)
        pending = [(c, d) for c, d in pending if c.recheck(d)]
    repair.waited_seconds = clock() - started
    repair.message = (
        f"{len(pending)} drifted keys not applied after {options.wait_seconds:g} s: are the consumers running?"
        if pending
        else "the consumers applied every re-emitted envelope"
    )


def _again(
    env: Environment,
    checks: list[Check],
    projections: Sequence[str],
    options: VerifyOptions,
    sinks: Mapping[str, Any] | None,
) -> dict[str, ProjectionResult]:
    """Step 5: the whole comparison again; for a sample, its drifted keys again."""
    if options.sample is None:
        return {c.projection: c.result for c in compare(env, projections, options, sinks=sinks)}
    out = {}
    for check in checks:
        left = [d for d in check.result.drifts if check.recheck(d)]
        out[check.projection] = ProjectionResult(check.projection, True, 0, len(check.result.drifts), left)
    return out


def _runner_active(env: Environment, consumers: list[str]) -> bool:
    """Whether a local runner holds a live lease of each consumer's shards (it is polling them);
    a lease of a runner of this machine whose process is gone does not count."""
    checkpoints, now_ms = env.checkpoints(), time.time() * 1000
    for consumer in consumers:
        held = checkpoints.all(consumer).values()
        if not any(cp.owner and (cp.lease_until_ms or 0) >= now_ms and not runner_is_dead(cp.owner) for cp in held):
            return False
    return True


def _check(env: Environment, projection: str, lookup: ItemLookup, options: VerifyOptions, sink: Any) -> Check:
    sink = sink if sink is not None else env.sink(projection)
    sampled = options.sample is not None
    if projection == "cache":
        return CacheCheck(sink, lookup, sampled=sampled)
    if projection == "search":
        return SearchCheck(sink, lookup, sampled=sampled)
    return CounterCheck(sink, sampled=sampled)
