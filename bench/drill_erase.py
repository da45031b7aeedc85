"""Drill 6: a subject erased while live traffic flows: nothing of them remains, nothing else changed.

The subject is a user of their own (``uz<run>``) with items they own (profile, session,
notification, membership of a workload startup, a document) and activities they did on
that startup, which the erasure pseudonymizes (they stay, counted, for the startup). The
workload never mentions the subject, and its pii values are their own, so everything the
workload wrote is "else": it must end exactly as the workload's ledger says, item by item
in the tables, and in the lake and the cache (:func:`bench.drill_checks.losses`), while
verify compares cache, search and counters (the shared startup's counts included) with
the tables.

The erasure runs in the pipeline's thread, between two passes (the embedded index's
connection is that thread's), pumping the pipeline while it waits for it; the workload's
writers go on meanwhile. The lake jobs run before it (so curated and current partitions
hold the subject) and after it, before the independent scan.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from auxeira.operations.environment import Environment
from auxeira.operations.erase import EraseRequest, EraseResult, erase, keys_for
from auxeira.operations.erase_ledger import IN_PROGRESS, read_records, verify_chain
from auxeira.operations.erase_letters import Probe
from auxeira.operations.erase_scan import scan_subject
from auxeira.operations.lake import run_job
from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from auxeira.runtime.local_pipeline import LocalPipeline
from bench.drill_checks import drift, drifted, losses
from bench.drill_live import DrillResult, Traffic, live, repositories
from bench.drill_scale import TENANTS, Scale
from bench.drill_stage import Stage, environment_of
from bench.drill_workload import Ledger, plan_ops, primer, write
from consumers.verify import scan_items
from producers.repository import Repository
from schemas.wire.dynamodb import deserialize_item
from tests.factories import make_item

__all__ = ["Subject", "erase_drill", "lake_jobs", "leftovers", "table_versions", "write_subject"]


@dataclass(frozen=True)
class Subject:
    """A user of their own, and the workload startup they share (``s<startup>``, in ``tenant``)."""

    user: str
    tenant: str
    startup: int
    serial: int  # the entity numbers of their items (far above the workload's)

    @property
    def email(self) -> str:
        return f"{self.user}@subjects.example"

    @property
    def request(self) -> str:
        return f"USER#{self.user}"


def write_subject(repo: Repository, subject: Subject) -> int:
    """The subject's items; returns how many writes (each one event)."""
    u, t, n, s = subject.user, subject.tenant, subject.serial, subject.startup
    ip = f"192.0.2.{n % 250 + 1}"
    writes = [
        ("user", make_item("user", n, t, user_id=u, email=subject.email, full_name=f"Subject {u}",
                           company_name=f"{u} ventures", phone_number=f"+1555{n:07d}", password_hash=f"h-{u}")),
        ("user_session", make_item("user_session", n, t, user_id=u, ip_address=ip, session_token=f"tok-{u}", ttl=None)),
        ("notification", make_item("notification", n, t, user_id=u, title=f"Hello {u}", ttl=None)),
        ("user_startup", make_item("user_startup", n, t, user_id=u, startup_id=f"s{s}", is_primary=False)),
        ("document", make_item("document", n, t, user_id=u, startup_id=f"s{s}", document_name=f"{u}-cv.pdf")),
        ("activity", make_item("activity", n, t, user_id=u, startup_id=f"s{s}", ip_address=ip)),
        ("activity", make_item("activity", n + 1, t, user_id=u, startup_id=f"s{s}", ip_address=ip)),
    ]  # fmt: skip
    for entity, item in writes:
        repo.create(entity, item, actor=u)
    return len(writes)


def lake_jobs(lake_root: str) -> None:
    run_job("raw_to_curated", lake_root, engine="arrow")
    run_job("current_state", lake_root, engine="arrow")


def leftovers(env: Environment, subject: Subject) -> list[dict[str, str]]:
    """An independent scan of every store for the subject's id and email (after the lake jobs ran again)."""
    lake_jobs(env.lake_root)
    keys = keys_for(env.lake_root)[0]
    found = scan_subject(env, Probe((subject.user, subject.email), frozenset(), keys.value_hash))
    return [f.as_dict() for f in found.findings]


def table_versions(
    runtime: LocalRuntime, skip: AbstractSet[tuple[str, str]] = frozenset()
) -> dict[tuple[str, str], int]:
    """``(entity, key) -> version`` of every item in the source tables, less ``skip``."""
    out = {}
    for spec in runtime.tables:
        for raw in scan_items(runtime.dynamodb, spec.physical_name(runtime.env)):
            item = deserialize_item(raw)
            entity = spec.entity_for(item).name
            if (entity, spec.key_of(item)) not in skip:
                out[(entity, spec.key_of(item))] = int(item["version"])
    return out


def expected_versions(ledger: Ledger) -> dict[tuple[str, str], int]:
    """``(entity, key) -> version`` the workload's ledger says the tables hold (deleted items absent)."""
    newest: dict[tuple[str, str], tuple[int, bool]] = {}
    for w in ledger.written:
        if (w.entity, w.key) not in newest or w.version >= newest[(w.entity, w.key)][0]:
            newest[(w.entity, w.key)] = (w.version, w.deleted)
    return {k: v for k, (v, deleted) in newest.items() if not deleted}


def erase_drill(stage: Stage, scale: Scale) -> DrillResult:
    """GIVEN a subject with items of their own and activities on a workload startup, in every store
    WHEN the subject is erased once a third of the workload is written, while it goes on
    THEN the erasure ends with a clean scan and one tamper-evident record (the chain verifies),
         and an independent scan of every store, after the lake jobs ran again, finds nothing
    AND every item the workload wrote is in the tables at the version its ledger says, nothing
         else is there, nothing was lost from the lake or the cache, and verify finds no drift.
    """
    started = time.monotonic()
    rt = stage.runtime(scale.shards)
    subject = Subject(f"uz{uuid.uuid4().hex[:8]}", TENANTS[0], 0, 900_000)
    subject_writes = write_subject(Repository(rt.dynamodb, env=rt.env, history=True), subject)
    env = environment_of(rt)
    pipeline = build_pipeline(rt)
    first, ops = primer(plan_ops(scale.events, seed=6, tenants=TENANTS))
    ledger = write(repositories(rt), first, threads=1)  # every table has a record before a router reads
    pipeline.run_until_caught_up(timeout=600)  # the subject's items reach every store
    lake_jobs(rt.lake_root)  # and the lake's curated and current partitions
    seen: dict[str, Any] = {"before": len(scan_subject(env, _probe(env, subject)).findings)}

    def during(traffic: Traffic) -> None:
        if "result" in seen or traffic.ledger.events < len(ops) // 3:
            return
        seen["written_at_start"] = traffic.ledger.events
        request = EraseRequest(subject.request, requested_by="dpo@drill", reason="art. 17")
        seen["result"] = erase(env, request, pump=lambda: _poll(pipeline))
        seen["written_at_end"] = traffic.ledger.events

    traffic = live(rt, ops, pipeline=pipeline, during=during, rate=len(ops) / 10.0)
    ledger.extend(traffic.ledger)
    result: EraseResult = seen["result"]
    found = leftovers(env, subject)
    planned = {(i.entity, i.key) for i in result.plan.items}
    expected = {k: v for k, v in expected_versions(ledger).items() if k not in planned}
    actual = table_versions(rt, planned)
    records = read_records(env.objects)
    report = drift(env)
    lost = losses(ledger, env)
    facts: dict[str, Any] = {
        "subject_writes": subject_writes,
        "found_before": seen["before"],
        "written_during": seen["written_at_end"] - seen["written_at_start"],
        "written_after": traffic.ledger.events - seen["written_at_end"],
        "erase_problem": result.problem,
        "erase_message": result.message,
        "erase_scan_clean": result.scan is not None and result.scan.clean,
        "outcomes": sorted({f"{i.entity}:{i.outcome}" for i in result.plan.items}),
        "records": len(records),
        "chain_errors": verify_chain(records),
        "in_progress": len(list(env.objects.list(IN_PROGRESS))),
        "leftovers": len(found),
        "leftover_examples": found[:5],
        "others_changed": sorted(str(k) for k in expected.keys() ^ actual.keys() | {k for k in expected if actual.get(k) != expected[k]})[:10],
        "others_checked": len(expected),
        "workload_items_planned": sorted(str(k) for k in planned & set(expected_versions(ledger)))[:10],
        "drift_after": drifted(report),
        "lost_detail": {"not_archived": len(lost.not_archived), "not_cached": len(lost.not_cached)},
    }  # fmt: skip
    return DrillResult("erase", ledger.events, lost.count, report.drift, time.monotonic() - started, facts)


def _poll(pipeline: LocalPipeline) -> None:
    pipeline.poll()


def _probe(env: Environment, subject: Subject) -> Probe:
    return Probe((subject.user, subject.email), frozenset(), keys_for(env.lake_root)[0].value_hash)
