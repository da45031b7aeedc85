"""Drill 7: each mutating command killed with SIGKILL mid-way and run again ends as an uninterrupted run.

Every command runs as a real ``auxeira`` process (:meth:`bench.drill_stage.Stage.start`),
killed once its persisted progress shows it started and before it is done, then run again:

* **replay** of the whole history into wiped stores (throttled by ``--rate``): the end state is
  the live one, entry by entry (drill 4 proves an uninterrupted replay ends there);
* **backfill** of every table into a wiped cache and search index: the end state is the one
  an uninterrupted backfill left, entry by entry;
* **redrive** of a faulty release's dead letters (:mod:`bench.drill_poison`): the stores equal
  the fault-free twin's, every letter archived exactly once, none left;
* **erase** of one of two subjects of the same shape (:mod:`bench.drill_erase`): killed once its
  source writes are done, rerun, it ends as the other's uninterrupted erasure: same plan
  outcomes, same removal counts, a clean scan, nothing left by an independent scan.

"Mid-way" is proven from what each command persists (replay checkpoints, backfill segment
progress, the redriven archive, the erasure plan in progress), read when the kill landed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from auxeira.operations.backfill_progress import SegmentLedger
from auxeira.operations.erase import EraseRequest, erase
from auxeira.operations.erase_ledger import IN_PROGRESS, read_records, verify_chain
from auxeira.operations.local_stack_pipeline import LocalRuntime, build_pipeline
from bench.drill_checks import drift, drifted, losses
from bench.drill_erase import Subject, leftovers, write_subject
from bench.drill_kill import stream_sequences
from bench.drill_live import DrillResult, live
from bench.drill_poison import FAULTED, faulty_run
from bench.drill_replay import stores_of, wipe_stores
from bench.drill_scale import TENANTS, Scale
from bench.drill_snapshots import STORES
from bench.drill_stage import Stage, catch_up, environment_of, wait_for
from bench.drill_workload import plan_ops
from producers.repository import Repository

__all__ = ["killed_and_rerun", "resume_drill"]

SNAPSHOTTED = ("cache", "search")


def killed_and_rerun(
    stage: Stage,
    rt: LocalRuntime,
    argv: list[str],
    started: Callable[[], bool],
    done: Callable[[], bool],
    rerun: list[str] | None = None,
    at_kill: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """``auxeira ARGV`` killed with SIGKILL once ``started()``, then ``RERUN`` (default the same) to its end.

    ``at_kill()`` is what the command had persisted when it died (kept as ``at_kill``)."""
    proc = stage.start(rt, *argv)
    wait_for(f"{argv[0]} to make progress", lambda: started() or not proc.alive(), timeout=300, every=0.02)
    alive = proc.alive()
    status = proc.kill() if alive else proc.popen.wait()
    facts: dict[str, Any] = {"killed": alive and status == -9, "mid_way": alive and not done()}
    if at_kill is not None:
        facts["at_kill"] = at_kill()
    again = stage.run(rt, *(rerun or argv))
    facts.update(rerun_exit=again.code, rerun=again.body)
    return facts


def resume_drill(stage: Stage, scale: Scale) -> DrillResult:
    """GIVEN an environment consumed live (two subjects of the same shape in it), and a faulty release's letters
    WHEN replay, backfill, dlq redrive and erase are each killed with SIGKILL mid-way and run again
    THEN each ends as an uninterrupted run ends (the module docstring says against what), nothing
         was lost, and verify finds no drift.
    """
    began = time.monotonic()
    since = datetime.now(UTC) - timedelta(minutes=10)
    rt = stage.runtime(scale.shards)
    repo = Repository(rt.dynamodb, env=rt.env, history=True)
    run = f"{time.monotonic_ns() % 10**8:08d}"
    pair = [Subject(f"uy{run}{tag}", TENANTS[0], 0, 800_000 + 10 * k) for k, tag in enumerate("ab")]
    for subject in pair:
        write_subject(repo, subject)
    traffic = live(rt, plan_ops(scale.resume_events, seed=7, tenants=TENANTS))
    facts: dict[str, Any] = {
        "replay": _replay(stage, rt, since, scale),
        "backfill": _backfill(stage, rt, scale),
        "erase": _erase(stage, rt, pair),
    }
    poison = faulty_run(stage, replace(scale, events=scale.resume_events), scale.resume_share, seed=77)
    facts["redrive"] = _redrive(stage, poison)
    env = environment_of(rt)
    report = drift(env)
    facts["drift_after"] = drifted(report)
    facts["identical"] = all(
        f["killed"] and f["mid_way"] and f["rerun_exit"] == 0 and f["same_end_state"] for f in facts.values() if isinstance(f, dict) and "killed" in f
    )  # fmt: skip
    lost = losses(traffic.ledger, env).count + losses(poison.traffic.ledger, poison.env).count
    redrive_drift = drift(poison.env).drift
    events = traffic.ledger.events + poison.traffic.ledger.events
    return DrillResult("resume", events, lost, report.drift + redrive_drift, time.monotonic() - began, facts)


def _replay(stage: Stage, rt: LocalRuntime, since: datetime, scale: Scale) -> dict[str, Any]:
    before = stores_of(rt)
    wipe_stores(rt)
    total = sum(map(len, stream_sequences(rt).values())) * len(STORES)
    argv = ["replay", "--projection", ",".join(STORES), "--from", since.isoformat(), "--source", "kinesis"]

    sequences = stream_sequences(rt)

    def replayed() -> int:
        cps = rt.checkpoints
        names = [c for c in cps.consumers() if c.startswith("replay:")]
        return sum(
            sum(1 for s in sequences.get(shard, ()) if cp.sequence_number and s <= int(cp.sequence_number))
            for name in names
            for shard, cp in cps.all(name).items()
        )

    facts = killed_and_rerun(
        stage, rt, [*argv, "--rate", str(scale.replay_rate)], lambda: replayed() > 0, lambda: replayed() >= total, argv
    )
    reread = sum(p.get("read", 0) for p in facts.pop("rerun").get("projections", {}).values())
    facts.update(records=total, reread=reread, differences=stores_of(rt).differences(before))
    facts["same_end_state"] = not facts["differences"] and 0 < reread < total
    return facts


def _backfill(stage: Stage, rt: LocalRuntime, scale: Scale) -> dict[str, Any]:
    env = environment_of(rt)
    tables = [env.table_name(t) for t in env.registry.source_tables]
    ledgers = [SegmentLedger(rt.checkpoints, t) for t in tables]
    argv = ["backfill", "--table", "all", "--segments", "2"]
    wipe_stores(rt, SNAPSHOTTED)
    # Killed first, on tables no backfill touched yet (so their progress is this run's alone), once
    # one table is done: its rerun must go on from the next, not scan that one again.
    facts = killed_and_rerun(
        stage, rt, [*argv, "--rate", str(scale.backfill_rate)], lambda: 2 in _finished(ledgers).values(),
        lambda: _all_done(ledgers), argv, lambda: _progress(ledgers),
    )  # fmt: skip
    catch_up(rt)
    body = facts.pop("rerun")
    resumed = stores_of(rt, SNAPSHOTTED)
    wipe_stores(rt, SNAPSHOTTED)
    whole = stage.run(rt, *argv)
    catch_up(rt)
    uninterrupted = stores_of(rt, SNAPSHOTTED)
    facts.update(
        uninterrupted_exit=whole.code,
        resumed_segments=sum(t.get("resumed_segments", 0) for t in body.get("tables", [])),
        restarted_tables=sorted(t["table"] for t in body.get("tables", []) if t.get("restarted")),
        rerun_scanned=sum(t.get("scanned", 0) for t in body.get("tables", [])),
        differences=resumed.differences(uninterrupted, SNAPSHOTTED),
        sizes=uninterrupted.sizes,
    )
    done_at_kill = {t for t, p in facts["at_kill"].items() if p.split("/")[0] == p.split("/")[1]}
    facts.update(
        uninterrupted_scanned=sum(t.get("scanned", 0) for t in whole.body.get("tables", [])),
        finished_at_kill=sorted(done_at_kill),
        redone=sorted(done_at_kill & {f"backfill:{t}" for t in facts["restarted_tables"]}),
    )
    facts["same_end_state"] = whole.code == 0 and not facts["differences"]
    facts["resumed"] = facts["rerun_scanned"] < facts["uninterrupted_scanned"] and not facts["redone"]
    return facts


def _progress(ledgers: list[SegmentLedger]) -> dict[str, str]:
    """Per table with saved progress: its segments finished, of how many."""
    out = {}
    for ledger in ledgers:
        if rows := ledger.all():
            out[ledger.name] = f"{sum(1 for p in rows.values() if p.finished)}/{len(rows)}"
    return out


def _finished(ledgers: list[SegmentLedger]) -> dict[str, int]:
    """Per table, how many of its segments are finished."""
    return {ledger.name: sum(1 for p in ledger.all().values() if p.finished) for ledger in ledgers}


def _all_done(ledgers: list[SegmentLedger]) -> bool:
    return all((rows := ledger.all()) and all(p.finished for p in rows.values()) for ledger in ledgers)


def _erase(stage: Stage, rt: LocalRuntime, pair: list[Subject]) -> dict[str, Any]:
    env = environment_of(rt)
    pipeline = build_pipeline(rt)
    pipeline.run_until_caught_up(timeout=600)

    def pump() -> None:
        pipeline.poll()

    try:
        whole = erase(env, EraseRequest(pair[0].request, requested_by="dpo@drill"), pump=pump)

        def source_done() -> bool:
            return any(_plan_step(env, key, "source") for key in env.objects.list(IN_PROGRESS))

        argv = ["erase", "--subject", pair[1].request, "--requested-by", "dpo@drill", "--wait", "30"]
        proc = stage.start(rt, *argv)
        wait_for("the erasure's source writes", lambda: source_done() or not proc.alive(), timeout=300)
        alive = proc.alive()
        status = proc.kill() if alive else proc.popen.wait()
        facts: dict[str, Any] = {
            "killed": alive and status == -9,
            "mid_way": alive and bool(list(env.objects.list(IN_PROGRESS))),
        }
        # The rerun is the library the command runs, pumping the pipeline it waits for (the stores must settle).
        again = erase(env, EraseRequest(pair[1].request, requested_by="dpo@drill"), pump=pump)
    finally:
        pipeline.release()
    records = read_records(env.objects)
    shape = [sorted((i.entity, i.action, i.outcome or "") for i in r.plan.items) for r in (whole, again)]
    removed = [_removed(r.record) for r in (whole, again)]
    facts.update(
        rerun_exit=int(again.problem),
        resumed=again.resumed,
        same_outcomes=shape[0] == shape[1],
        same_removed=removed[0] == removed[1],
        removed=removed,
        scans_clean=[bool(r.scan and r.scan.clean) for r in (whole, again)],
        leftovers=[len(leftovers(env, s)) for s in pair],
        records=len(records),
        chain_errors=verify_chain(records),
    )
    facts["same_end_state"] = (
        again.resumed and facts["same_outcomes"] and facts["same_removed"] and facts["scans_clean"] == [True, True]
        and facts["leftovers"] == [0, 0] and facts["records"] == 2 and not facts["chain_errors"]
    )  # fmt: skip
    return facts


def _removed(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """An erasure record's removal counts that do not depend on which subject it was (not the
    digest of the erased keys; not the lake's, whose objects hold whoever shared them)."""
    if record is None:
        return None
    removed = record["removed"]
    tables = {k: v for k, v in removed["source_tables"].items() if k != "erased_items_digest"}
    return {"source_tables": tables, **{s: removed.get(s) for s in ("cache", "search", "counters", "history")}}


def _plan_step(env: Any, key: str, step: str) -> bool:
    return bool(orjson.loads(env.objects.get(key)).get("steps", {}).get(step, {}).get("done"))


def _redrive(stage: Stage, run: Any) -> dict[str, Any]:
    letters = sum(len(list(run.env.dead_letters().list(c))) for c in FAULTED)

    def moved() -> int:
        return sum(1 for _ in run.env.objects.list("redriven/"))

    facts = killed_and_rerun(stage, run.runtime, ["dlq", "redrive"], lambda: moved() > 0, lambda: moved() >= letters)
    listing = stage.run(run.runtime, "dlq", "list")
    mine, theirs = run.stores()
    body = facts.pop("rerun")
    facts.update(
        letters=letters,
        redriven_by_rerun=(body.get("outcomes") or {}).get("applied", 0),
        archived=moved(),
        left=listing.body.get("total"),
        differences=mine.differences(theirs, FAULTED),
    )
    facts["same_end_state"] = (
        facts["archived"] == letters > facts["redriven_by_rerun"] > 0
        and facts["left"] == 0
        and not facts["differences"]
    )
    return facts
