"""``auxeira erase --subject USER#<id>``: the right to be forgotten, across every store, on the record.

Steps, in this order (each one's end is stored in the plan, so a kill -9 resumes at the
step it stopped in, and a step repeated does nothing twice):

1. **plan**: find the subject's items (:mod:`~auxeira.operations.erase_find`: Query on a
   key or an index, a filtered parallel Scan otherwise) and its pii values (memory only),
   store the plan under ``_erasures/in-progress/`` and the **ledger** entry (keyed hashes
   only), so replay and redrive skip the subject from now on. ``--dry-run`` stops here,
   prints the plan and what every later step would change, and writes nothing;
2. **source**: shared items pseudonymized, then owned items deleted, profile last, through
   the write path (:mod:`~auxeira.operations.erase_source`);
3. **settle**: wait until the cache, search, counters and the raw archive applied those
   writes (:mod:`~auxeira.operations.erase_settle`); when only the subject's counters stay
   above zero, an item written after the plan counts there: the tables are searched again
   and what was found is applied first (step 2 again);
4. **cache**, **search**, **counters**, **history**: tombstones of erased keys, the subject's
   counter items, history entries (:mod:`~auxeira.operations.erase_stores`);
5. **raw**, **curated**, **current**: the lake rewritten without the subject
   (:mod:`~auxeira.operations.erase_lake`);
6. **dead_letters**: dead letters, failure records and the redriven archive
   (:mod:`~auxeira.operations.erase_letters`);
7. **scan**: every store searched (:func:`~auxeira.operations.erase_scan.scan_subject`).
   When a source table still holds the subject (live traffic wrote an item of theirs
   after the plan: a login's new session), the tables are searched again, what was found
   joins the plan (:func:`~auxeira.operations.erase_plan.merge_found`) and steps 2-7 run
   again, up to :data:`_PASSES` times in one run. Anything still found after that makes
   the run a problem (exit 1): steps 4-6 are reopened, and a rerun cleans and scans again;
8. **record**: the hash-chained erasure record (:mod:`~auxeira.operations.erase_ledger`),
   then the plan in progress is removed.

The pseudonyms, the ledger's hashes and the record's subject hash are keyed with the lake's
pii key (:func:`glue_jobs.pii.resolve_key`: ``--pii-key-secret`` on AWS, the development
key for a local lake), so joins of what others share survive and no hash can be tested
against a guessed id without the key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auxeira.operations.environment import Environment
from auxeira.operations.erase_find import IDENTITIES, Found, find_items, pii_values_of
from auxeira.operations.erase_lake import Needles, rewrite_parquet, rewrite_raw
from auxeira.operations.erase_ledger import append_record, write_ledger
from auxeira.operations.erase_letters import Probe, purge_letters
from auxeira.operations.erase_plan import ErasurePlan, build_plan, load_plan, merge_found, save_plan
from auxeira.operations.erase_report import EraseResult, lake_dict, letters_dict, record_body
from auxeira.operations.erase_scan import ScanResult, scan_subject
from auxeira.operations.erase_settle import settle
from auxeira.operations.erase_source import apply_item, table_namer
from auxeira.operations.erase_stores import (
    erase_cache_tombstones,
    erase_history,
    erase_search_tombstones,
    erase_subject_counters,
)
from auxeira.runtime.mapping_runner import runner_name
from auxeira.runtime.objects import ObjectStore
from glue_jobs.pii import Tokenizer, resolve_key
from producers.repository import Repository
from schemas import catalog
from schemas.erasure import ErasureKeys, Matcher, parse_subject

__all__ = ["EraseRequest", "EraseResult", "erase", "keys_for"]

#: The steps a scan that found something reopens (a rerun cleans again).
_CLEANUPS = ("cache", "search", "counters", "history", "raw", "curated", "current", "dead_letters", "scan")
_SAVE_EVERY = 10
#: Rounds of steps 2-7 one run makes when the scan finds items written after the plan.
_PASSES = 3

Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class EraseRequest:
    subject: str
    requested_by: str
    reason: str = ""
    dry_run: bool = False
    wait_seconds: float = 600.0
    segments: int = 4
    pii_key: bytes | None = None


def keys_for(lake_root: str, pii_key: bytes | None = None) -> tuple[ErasureKeys, Tokenizer]:
    """The erasure's keyed hashes and the lake's tokenizer, both from the lake's pii key."""
    key = pii_key or resolve_key(lake_root)
    return ErasureKeys(key), Tokenizer(key)


def erase(
    env: Environment,
    request: EraseRequest,
    *,
    pump: Callable[[], None] | None = None,
    on_progress: Progress | None = None,
    failures: ObjectStore | None = None,
    owner: str | None = None,
) -> EraseResult:
    """Erase one subject (the steps of the module docstring).

    Args:
        pump: called while waiting for the pipeline (tests drive a local pipeline here).
        on_progress: ``(step, done, total)`` as work moves (the command line's bars).
        failures: the mappings' failure bucket, when it is not the lake.
    """
    subject = parse_subject(request.subject)
    keys, tokenizer = keys_for(env.lake_root, request.pii_key)
    progress = on_progress or (lambda _step, _done, _total: None)
    progress("plan", 0, None)
    plan = load_plan(env.objects, keys.subject_hash(subject))
    resumed = plan is not None
    if plan is None:
        plan, pii = build_plan(
            env.dynamodb,
            env.registry.source_tables,
            table_namer(env.name),
            subject,
            keys,
            tokenizer,
            lambda values: _matcher(keys, subject, values, ()),
            env=env.name,
            requested_by=request.requested_by,
            reason=request.reason,
            segments=request.segments,
        )
    else:
        pii = _pii_still_there(env, plan)
    matcher = _matcher(keys, subject, pii, plan.pii_hashes)
    run = _Run(env, request, plan, subject, pii, keys, matcher, progress, failures)
    result = EraseResult(plan, request.dry_run, resumed)
    if request.dry_run:
        result.preview = run.preview()
        return result
    if not resumed:
        plan.started_at = time.time()
        save_plan(env.objects, plan)
        owned = [keys.item_hash(i.entity, i.key) for i in plan.items if i.relation == "owned"]
        write_ledger(env.objects, plan.subject_hash, owned, plan.pii_hashes, plan.request_id)
    return run.go(result, pump, owner or runner_name())


def _matcher(keys: ErasureKeys, subject: str, pii: Any, pii_hashes: Any) -> Matcher:
    values = frozenset(v for v in pii)
    hashes = frozenset(pii_hashes)
    pseudonym = keys.pseudonym(subject)

    def is_pii(value: str) -> bool:
        return value in values or (bool(hashes) and keys.value_hash(value) in hashes)

    return Matcher(lambda v: pseudonym if v == subject else None, is_pii, keys.value_hash)


def _pii_still_there(env: Environment, plan: ErasurePlan) -> list[str]:
    """A resumed run's pii values: from the identity items not deleted yet (the rest by hash)."""
    repo = Repository(env.dynamodb, env=env.name)
    found = []
    for item in plan.items:
        if item.entity in IDENTITIES and item.relation == "owned":
            current = repo.get(item.entity, item.key)
            if current is not None:
                spec = catalog.entity(item.entity)
                table = catalog.table_of_entity(item.entity)
                found.append(Found(table, spec, item.key, item.tenant, "owned", current, item.found_by))
    return pii_values_of(found)


@dataclass
class _Run:
    env: Environment
    request: EraseRequest
    plan: ErasurePlan
    subject: str
    pii: list[str]
    keys: ErasureKeys
    matcher: Matcher
    progress: Progress
    failures: ObjectStore | None

    # -- what every cleanup works with ---------------------------------------------------

    def erased_item(self, entity: str, key: str) -> bool:
        return (entity, key) in self._owned

    @property
    def _owned(self) -> set[tuple[str, str]]:
        return self.plan.owned_keys()

    def needles(self) -> Needles:
        keys = sorted({i.key for i in self.plan.items})
        return Needles((self.subject, *keys, *self.pii), frozenset(self.plan.pii_tokens))

    def probe(self) -> Probe:
        owned = sorted({k for _, k in self._owned})
        return Probe((self.subject, *owned, *self.pii), frozenset(self.plan.pii_hashes), self.keys.value_hash)

    def stores(self) -> list[ObjectStore]:
        return [self.env.objects, *([self.failures] if self.failures is not None else [])]

    # -- the steps ------------------------------------------------------------------------

    def preview(self) -> dict[str, Any]:
        """What steps 4-6 would change now, changing nothing (the dry run)."""
        env, needles = self.env, self.needles()
        lake = {
            "raw": rewrite_raw(env.objects, self.matcher, self.erased_item, needles, apply=False),
            "curated": rewrite_parquet(env.objects, "curated", self.matcher, self.erased_item, needles, apply=False),
            "current": rewrite_parquet(env.objects, "current", self.matcher, self.erased_item, needles, apply=False),
        }
        letters = purge_letters(self.stores(), self.probe(), apply=False)
        return {
            "history": erase_history(env, self.plan, self.matcher, apply=False, segments=self.request.segments),
            "cache": erase_cache_tombstones(env, self.plan, apply=False),
            "search": erase_search_tombstones(env, self.plan, apply=False),
            "counters": erase_subject_counters(env, self.subject, apply=False),
            **{name: lake_dict(found) for name, found in lake.items()},
            "dead_letters": letters_dict(letters),
            "note": (
                "the erasure's own writes (deletes, pseudonymized versions) reach the archive and the "
                "projections after step 2; they are cleaned in the same run"
            ),
        }

    def go(self, result: EraseResult, pump: Callable[[], None] | None, owner: str) -> EraseResult:
        plan = self.plan
        for _ in range(_PASSES):
            if not self._steps(result, pump):
                return result
            scan = self._scan()
            result.scan = scan
            if scan.clean:
                break
            added = self._refind(scan)
            plan.reopen((*(("source", "settle") if added else ()), *_CLEANUPS))
            save_plan(self.env.objects, plan)
            result.message = f"{len(scan.findings)} places still hold the subject: rerun to clean them again"
            if not added:
                return result
        else:
            return result
        plan.finish("scan", **dict(scan.scanned))
        body = record_body(self.env, plan, self.keys, scan)
        result.record_key, result.record = append_record(self.env.objects, self.env.checkpoints(), body, owner=owner)
        self.env.objects.delete(plan.key)
        result.message = "erased: nothing of the subject was found in any store"
        return result

    def _steps(self, result: EraseResult, pump: Callable[[], None] | None) -> bool:
        """Steps 2-6 (those not done yet); False when the pipeline has not applied the writes in time."""
        plan = self.plan
        if not plan.step_done("source"):
            self._source()
        while not plan.step_done("settle"):
            self.progress("settle", 0, None)
            left = settle(
                self.env, plan, self.subject, wait_seconds=self.request.wait_seconds, pump=pump, recheck=self._recheck
            )
            if left.replanned:  # items of the subject written during the erasure: take them first
                self._source()
                continue
            if not left.empty:
                result.pending = left
                result.message = (
                    f"the pipeline has not applied every write of the erasure yet ({left.count()}); "
                    "is it running? Rerun the same command to continue"
                )
                save_plan(self.env.objects, plan)
                return False
            plan.finish("settle", notes=left.notes)
            save_plan(self.env.objects, plan)
        for step, work in self._cleanups():
            if not plan.step_done(step):
                self.progress(step, 0, None)
                plan.finish(step, **work())
                save_plan(self.env.objects, plan)
        return True

    def _scan(self) -> ScanResult:
        self.progress("scan", 0, None)
        return scan_subject(
            self.env,
            self.probe(),
            tokens=self.plan.pii_tokens,
            own_plan=self.plan.key,
            failures=self.failures,
            progress=lambda text: self.progress(text, 0, None),
            segments=self.request.segments,
        )

    def _refind(self, scan: ScanResult) -> int:
        """Items of the subject written after the plan, when the scan found any in a source table."""
        tables = {self.env.table_name(spec) for spec in self.env.registry.source_tables}
        return self._recheck() if any(f.store in tables for f in scan.findings) else 0

    def _recheck(self) -> int:
        """The tables searched again; what is about the subject and not applied is taken into the
        plan (and the ledger), the source step reopened; how many items were taken."""
        env, plan = self.env, self.plan
        found, _lookups, _pii = find_items(
            env.dynamodb,
            env.registry.source_tables,
            table_namer(env.name),
            self.subject,
            lambda values: _matcher(self.keys, self.subject, (*self.pii, *values), plan.pii_hashes),
            segments=self.request.segments,
        )
        taken = merge_found(plan, found, table_namer(env.name))
        owned = [self.keys.item_hash(i.entity, i.key) for i in taken if i.relation == "owned"]
        if taken:
            write_ledger(env.objects, plan.subject_hash, owned, plan.pii_hashes, plan.request_id)
            plan.reopen(("source",))
            save_plan(env.objects, plan)
        return len(taken)

    def _source(self) -> None:
        env, plan = self.env, self.plan
        repo = Repository(env.dynamodb, env=env.name, history=True)
        actor = f"erasure:{plan.request_id}"
        total = len(plan.items)
        for n, item in enumerate(plan.items, 1):
            if not item.done:
                apply_item(repo, env.dynamodb, table_namer(env.name), item, self.matcher, actor=actor)
                if n % _SAVE_EVERY == 0:
                    save_plan(env.objects, plan)
            self.progress("source", n, total)
        counts: dict[str, int] = {}
        for item in plan.items:
            counts[item.outcome] = counts.get(item.outcome, 0) + 1
        plan.finish("source", **counts)
        save_plan(env.objects, plan)

    def _cleanups(self) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
        env, needles = self.env, self.needles()

        def lake(layer: str) -> Callable[[], dict[str, Any]]:
            def run() -> dict[str, Any]:
                if layer == "raw":
                    found = rewrite_raw(env.objects, self.matcher, self.erased_item, needles)
                else:
                    found = rewrite_parquet(env.objects, layer, self.matcher, self.erased_item, needles)
                return found.totals()

            return run

        return [
            ("cache", lambda: erase_cache_tombstones(env, self.plan)),
            ("search", lambda: erase_search_tombstones(env, self.plan)),
            ("counters", lambda: erase_subject_counters(env, self.subject)),
            ("history", lambda: erase_history(env, self.plan, self.matcher, segments=self.request.segments)),
            ("raw", lake("raw")),
            ("curated", lake("curated")),
            ("current", lake("current")),
            ("dead_letters", lambda: purge_letters(self.stores(), self.probe()).totals()),
        ]
