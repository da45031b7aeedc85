"""The failure drills of the on-call toolkit at test scale (``bench.drills`` runs them larger).

Each drill runs in an environment of its own on the session's local stack and ends with
``verify`` of every projection; the scenarios are the bench's (``bench/drill_*.py``), the
assertions here say what each one must prove.
"""

from __future__ import annotations

import itertools
import uuid

import pytest

from auxeira.operations.local_stack_pipeline import provision
from bench.drill_erase import erase_drill
from bench.drill_kill import kill_drill
from bench.drill_outage import outage_drill
from bench.drill_poison import poison_drill
from bench.drill_replay import replay_drill
from bench.drill_resume import resume_drill
from bench.drill_retention import BEHIND, retention_drill
from bench.drill_scale import TEST
from bench.drill_stage import Stage
from infra.local.provision import delete_environment

pytestmark = pytest.mark.integration


@pytest.fixture
def stage(local_stack, local_stack_settings, make_runtime, tmp_path) -> Stage:
    return Stage(local_stack, local_stack_settings, make_runtime, tmp_path)


def test_drill_3_poison_records_are_dead_lettered_with_their_payload_and_redriven_after_the_fix(stage):
    result = poison_drill(stage, TEST)
    facts = result.facts
    # THEN every poison record is a dead letter of each faulted consumer, its payload that very record
    assert facts["poison_records"] >= 3
    assert facts["dlq_captured"] == facts["dlq_expected"] == 2 * facts["poison_records"]
    assert facts["letters_match"] and facts["poison_counted"] == {
        "cache": facts["poison_records"],
        "search": facts["poison_records"],
    }
    # AND every good record was applied: the faulted stores equal the twin's but for the poison keys
    assert facts["good_vs_twin"] == {} and facts["poison_in_store"] == []
    assert facts["drift_before"] == facts["expected_drift"]
    # AND after the fix the redrive applied and archived every letter, and nothing is left
    assert facts["planned"] == facts["dlq_expected"]
    assert (
        facts["redrive_exit"] == 0 and facts["redriven"] == facts["moved"] == facts["archived"] == facts["dlq_expected"]
    )
    assert facts["left_after_redrive"] == 0 and facts["list_exit"] == 0
    assert facts["after_vs_twin"] == {} and facts["drift_after"] == {}
    assert result.lost == 0 and result.drift == 0


def test_drill_4_a_wiped_projection_replayed_from_kinesis_and_from_the_lake_is_identical_to_the_live_one(stage):
    result = replay_drill(stage, TEST)
    facts = result.facts
    # THEN both replays read the whole history into every store and dead-lettered nothing
    assert all(facts["sizes"][s] > 0 for s in ("cache", "search", "counters")), facts["sizes"]
    for source in ("kinesis", "lake"):
        assert all(p["read"] > 0 and p["applied"] > 0 for p in facts[source].values()), facts[source]
        assert facts[f"{source}_dead_lettered"] == 0
    # AND each left every store identical to the live one, entry by entry
    assert facts["kinesis_differences"] == {} and facts["lake_differences"] == {}
    assert facts["identical"]
    # AND the replay of the stream's whole history marked every store built again
    assert facts["kinesis_marked_built"] == ["cache", "search", "counters"]
    assert facts["kinesis_store_states"] == {"cache": "ok", "search": "ok", "counters": "ok"}
    assert result.lost == 0 and result.drift == 0


def test_drill_1_consumers_killed_at_random_moments_lose_nothing_and_apply_nothing_twice(stage):
    result = kill_drill(stage, TEST)
    facts = result.facts
    kills = facts["kills"]
    # THEN every kill was a SIGKILL of a live process, holding the leases, with work left behind it
    assert len(kills) == TEST.kills, kills
    assert all(k["exit_status"] == -9 and k["owners"] == [k["pid"]] for k in kills), kills
    # AND each successor resumed from its predecessor's checkpoints (progress only moves on)
    done = [k["consumed"] for k in kills]
    assert all(sum(d.values()) > 0 for d in done)
    assert all(d2[c] >= d1[c] for d1, d2 in itertools.pairwise(done) for c in d1), done
    assert all(sum(d.values()) < 4 * facts["stream_records"] for d in done), done
    # AND the last run read only what was left, nothing was archived twice or lost, no drift
    assert facts["last_run_exit"] == 0 and facts["failed_writes"] == 0
    assert facts["archived_twice"] == 0 and facts["archived"] == facts["stream_records"] >= result.events
    assert result.lost == 0 and result.drift == 0


def test_drill_2_a_redis_outage_is_detected_as_a_reset_store_and_a_backfill_rebuilds_the_cache(stage):
    result = outage_drill(stage, TEST)
    facts = result.facts
    # THEN Redis was down as long as asked, with traffic before, during and after, and held entries first
    assert TEST.outage_seconds <= facts["outage_seconds"] < TEST.outage_seconds + 5 and facts["cached_before"] > 0
    assert facts["written_during"] > 0 and facts["written_after"] > 0
    # AND nothing was given up: no dead letter, no failure record
    assert facts["letters"] == 0 and facts["failure_records"] == 0
    # AND the emptied cache is a reset store for status (a problem, pointing at backfill); the others are ok
    assert facts["store_states"] == {"cache": "reset", "search": "ok", "counters": "ok"}
    assert facts["status_problem"] and any("auxeira backfill --table all" in h for h in facts["rebuild_hint"])
    assert facts["drift_before_rebuild"] > 0  # the entries written before the outage are gone
    # AND the backfill rebuilt it, marked it built, and nothing was lost: no drift
    assert facts["backfill_exit"] == 0 and facts["backfill_emitted"] > 0
    assert facts["states_after"] == {"cache": "ok", "search": "ok", "counters": "ok"}
    assert facts["rebuilt_by"] == "backfill"
    assert facts["drift_after"] == {} and facts["lost_detail"] == {"not_archived": 0, "not_cached": 0}
    assert result.lost == 0 and result.drift == 0


def test_drill_5_a_checkpoint_past_retention_warns_and_a_backfill_rebuilds(stage):
    result = retention_drill(stage, TEST)
    facts = result.facts
    # THEN status, 25 hours on, warns of exactly the stopped consumers, and points at backfill
    assert all(facts["behind_records"][c] > 0 for c in BEHIND), facts["behind_records"]
    assert facts["past_retention_warned"] == sorted(BEHIND) and facts["others_warned"] == []
    assert facts["late_status_problem"]
    # AND the consumers that came back read nothing the stream no longer held, and drifted from the tables
    assert facts["hidden"] >= facts["behind_writes"] > 0
    assert facts["drift_before"] == sorted(BEHIND), facts["drift_before"]
    # AND the backfill rebuilt them: what is left is only entries of items deleted out of the stream's reach
    assert facts["backfill_exit"] == 0 and facts["backfill_emitted"] > 0
    assert all(kinds == ["extra"] for kinds in facts["after_backfill"].values()), facts["after_backfill"]
    assert facts.get("repair_exit", 0) == 0
    # AND nothing was lost, every store is ok, and verify finds no drift
    assert facts["states_after"] == {"cache": "ok", "search": "ok", "counters": "ok"}
    assert facts["drift_after"] == {} and facts["lost_detail"] == {"not_archived": 0, "not_cached": 0}
    assert result.lost == 0 and result.drift == 0


def test_drill_6_a_subject_erased_during_live_traffic_leaves_nothing_of_them_and_changes_nothing_else(stage):
    result = erase_drill(stage, TEST)
    facts = result.facts
    # THEN the subject was in the stores before, and the workload wrote during the erasure and after it
    assert facts["found_before"] > 0
    assert facts["written_during"] > 0, facts
    # AND the erasure completed: a clean scan of its own, one record whose chain verifies, no plan left
    assert not facts["erase_problem"], facts["erase_message"]
    assert facts["erase_scan_clean"] and facts["records"] == 1 and facts["chain_errors"] == []
    assert facts["in_progress"] == 0
    assert "user:deleted" in facts["outcomes"] and "activity:pseudonymized" in facts["outcomes"]
    # AND an independent scan of every store (the lake jobs run again) finds nothing of the subject
    assert facts["leftovers"] == 0, facts["leftover_examples"]
    # AND nothing else changed: every workload item as its ledger says, none planned, nothing lost, no drift
    assert facts["others_checked"] > 0 and facts["others_changed"] == []
    assert facts["workload_items_planned"] == []
    assert facts["drift_after"] == {} and facts["lost_detail"] == {"not_archived": 0, "not_cached": 0}
    assert result.lost == 0 and result.drift == 0


@pytest.fixture(scope="module")
def resumed(local_stack, local_stack_settings, tmp_path_factory):
    """Drill 7, run once for the tests that read it (its environments removed after them)."""
    workdir = tmp_path_factory.mktemp("drill-7")
    made = []

    def make(shards: int = 2):
        env = f"it{uuid.uuid4().hex[:10]}"
        made.append(provision(local_stack, env=env, lake_root=str(workdir / f"lake-{env}"), shard_count=shards))
        return made[-1]

    try:
        yield resume_drill(Stage(local_stack, local_stack_settings, make, workdir), TEST)
    finally:
        for runtime in made:
            delete_environment(runtime.dynamodb, runtime.kinesis, runtime.env)


def test_drill_7_each_mutating_command_killed_mid_way_and_rerun_ends_as_an_uninterrupted_run(resumed):
    result = resumed
    facts = result.facts
    for command in ("replay", "backfill", "redrive", "erase"):
        found = facts[command]
        # THEN the command was killed with SIGKILL while it had work left, and its rerun succeeded
        assert found["killed"] and found["mid_way"], (command, found)
        assert found["rerun_exit"] == 0, (command, found)
    # AND the replay resumed (it read less than the whole history again) into the live end state
    replayed = facts["replay"]
    assert replayed["differences"] == {} and 0 < replayed["reread"] < replayed["records"], replayed
    # AND the backfill's rerun left what an uninterrupted backfill leaves (whether it resumed: the test below)
    backfilled = facts["backfill"]
    assert backfilled["differences"] == {} and backfilled["uninterrupted_exit"] == 0, backfilled
    assert backfilled["rerun_scanned"] > 0 and backfilled["sizes"]["cache"] > 0, backfilled
    # AND every letter was redriven and archived exactly once, the stores equal the twin's
    redrive = facts["redrive"]
    assert redrive["archived"] == redrive["letters"] > redrive["redriven_by_rerun"] > 0, redrive
    assert redrive["left"] == 0 and redrive["differences"] == {}
    # AND the resumed erasure ended as the uninterrupted one: same outcomes and counts, nothing left
    erased = facts["erase"]
    assert erased["resumed"] and erased["same_outcomes"] and erased["same_removed"], erased
    assert erased["scans_clean"] == [True, True] and erased["leftovers"] == [0, 0]
    assert erased["records"] == 2 and erased["chain_errors"] == []
    assert facts["identical"]
    assert facts["drift_after"] == {} and result.lost == 0 and result.drift == 0


def test_drill_7_a_backfill_rerun_does_not_redo_a_table_its_killed_run_finished(resumed):
    backfilled = resumed.facts["backfill"]
    # GIVEN the backfill was killed once a table was done
    assert backfilled["finished_at_kill"], backfilled
    # THEN its rerun did not scan that table again (nothing applied twice): it scanned less than a whole backfill
    assert backfilled["redone"] == [], backfilled
    assert backfilled["rerun_scanned"] < backfilled["uninterrupted_scanned"], backfilled
