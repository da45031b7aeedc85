"""What keeps an erased subject erased once the erasure is over (:mod:`auxeira.operations.erase_guard`):
a replay or a redrive passes every record through the ledger's guard. Records of erased owned items
and published occurrences of the subject are skipped, records of shared items arrive scrubbed, a KPL
aggregate is unpacked, filtered and packed again, and anything else is delivered byte for byte. Also
the text probe that finds the subject in dead letters (whole ids, pii by keyed hash) and the history
entries' scrub."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from auxeira.operations.erase_guard import _aggregate, guarded, load_guard
from auxeira.operations.erase_ledger import write_ledger
from auxeira.operations.erase_letters import Probe
from auxeira.operations.erase_stores import scrubbed_entry
from auxeira.runtime.objects import LocalObjects
from glue_jobs.pii import LOCAL_DEVELOPMENT_KEY
from schemas import catalog
from schemas.erasure import MIN_PII_CHARS, ErasureKeys, ledger_matcher, relation, subject_matcher
from schemas.wire.kpl import deaggregate
from tests.factories import make_stored_item
from tests.kinesis_records import kinesis_record
from tests.stream_records import stream_record

KEYS = ErasureKeys(LOCAL_DEVELOPMENT_KEY)
PROFILE = "USER#u3|PROFILE"


@pytest.fixture
def lake(tmp_path) -> LocalObjects:
    """A local lake whose ledger says u3 was erased, with their profile."""
    objects = LocalObjects(tmp_path / "lake")
    pii = [KEYS.value_hash("user3@example.com")]
    write_ledger(objects, KEYS.subject_hash("u3"), [KEYS.item_hash("user", PROFILE)], pii, "r1")
    return objects


def record(doc: dict[str, Any]) -> dict[str, Any]:
    return kinesis_record(orjson.dumps(doc))


def data_of(rec: dict[str, Any]) -> list[dict[str, Any]]:
    return [orjson.loads(p) for p in deaggregate(base64.b64decode(rec["kinesis"]["data"]))]


PROFILE_DOC = {"entity": "user", "key": PROFILE, "after": make_stored_item("user", 3), "actor": "u3"}
ACTIVITY_DOC = {"entity": "activity", "key": "k3", "after": make_stored_item("activity", 3), "actor": "u3"}
OTHER_DOC = {"entity": "activity", "key": "k4", "after": make_stored_item("activity", 4), "actor": "u4"}


def test_no_ledger_no_guard(tmp_path):
    assert load_guard(LocalObjects(tmp_path / "empty")) is None


def test_a_replayed_batch_skips_erased_items_scrubs_shared_ones_and_keeps_the_rest_byte_for_byte(lake):
    # GIVEN the guard of a lake that erased u3, and a batch about u3 and u4
    guard = load_guard(lake)
    assert guard is not None
    batch = [record(PROFILE_DOC), record(ACTIVITY_DOC), record(OTHER_DOC)]
    # WHEN it passes the guard
    out = guard.records(batch)
    # THEN the profile is skipped, the shared activity is scrubbed, the other user's is the same object
    assert guard.skipped == 1 and guard.scrubbed == 1 and len(out) == 2
    [activity] = data_of(out[0])
    assert activity["after"]["user_id"] == KEYS.pseudonym("u3") and activity["actor"] == KEYS.pseudonym("u3")
    assert "ip_address" not in activity["after"]
    assert out[1] is batch[2]


def test_a_kpl_aggregate_is_unpacked_filtered_and_packed_again(lake):
    guard = load_guard(lake)
    assert guard is not None
    payloads = [orjson.dumps(d) for d in (PROFILE_DOC, OTHER_DOC)]
    [kept] = guard.records([kinesis_record(_aggregate(payloads, "pk"))])
    assert [d["key"] for d in data_of(kept)] == ["k4"]
    # a whole aggregate of erased records is not delivered at all
    assert guard.records([kinesis_record(_aggregate([payloads[0]], "pk"))]) == []


def test_a_router_redrive_judges_a_table_stream_record_by_its_images(lake):
    guard = load_guard(lake)
    assert guard is not None
    users = catalog.table("users").physical_name("test")
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{users}/stream/2026"
    profile = {**stream_record(users, "INSERT", new=make_stored_item("user", 3)), "eventSourceARN": arn}
    other = {**stream_record(users, "INSERT", new=make_stored_item("user", 4)), "eventSourceARN": arn}
    assert guard.records([profile, other]) == [other]


def test_a_guarded_handler_never_sees_a_skipped_record_and_reports_the_count(lake):
    guard = load_guard(lake)
    assert guard is not None
    seen: list[list[dict[str, Any]]] = []
    skipped: list[int] = []

    def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        seen.append(event["Records"])
        return {"batchItemFailures": []}

    handle = guarded(handler, guard, on_skip=skipped.append)
    assert handle({"Records": [record(PROFILE_DOC)]}, None) == {"batchItemFailures": []}
    handle({"Records": [record(PROFILE_DOC), record(OTHER_DOC)]}, None)
    assert skipped == [1, 1] and [[data_of(r)[0]["key"] for r in batch] for batch in seen] == [["k4"]]


def test_the_ledger_matcher_knows_pii_by_hash_only_and_ignores_short_values():
    m = ledger_matcher(KEYS, [KEYS.subject_hash("u3")], [KEYS.value_hash("user3@example.com"), KEYS.value_hash("Ana")])
    assert m.is_pii("user3@example.com") and not m.is_pii("user4@example.com")
    assert len("Ana") < MIN_PII_CHARS and not m.is_pii("Ana")  # a short name would match strangers
    # a pending invitation to the erased email is found by the hash alone
    invitation = make_stored_item("loan_participant", 2, lender_email="user3@example.com")
    assert relation(catalog.entity("loan_participant"), invitation, m) == "shared"
    # a pseudonym is never taken for a subject again
    assert m.pseudonym_for(KEYS.pseudonym("u3")) is None and m.pseudonym_for("u3") == KEYS.pseudonym("u3")


def test_the_probe_finds_whole_ids_pii_values_and_hashed_pii_never_a_longer_id():
    probe = Probe(
        ("u1", "USER#u1|PROFILE", "ana@example.com"), frozenset({KEYS.value_hash("+351 900 000 001")}), KEYS.value_hash
    )
    assert probe.found_in('{"user_id": "u1"}') == "the subject's id"
    assert probe.found_in('{"user_id": "u10", "k": "xu1"}') is None
    assert probe.found_in("mail ana@example.com today") is not None
    assert probe.found_in('{"phone": "+351 900 000 001"}') == "a pii value (by its hash)"
    assert probe.found_in('{"phone": "+351 900 000 002"}') is None


def test_a_history_entry_keeps_its_keys_and_loses_the_subject():
    m = subject_matcher(KEYS, "u3")
    after = make_stored_item("activity", 3, actor="u3")
    entry = {
        "PK": "activity#k3",
        "SK": "g#v0000000001",
        "entity": "activity",
        "key": "k3",
        "actor": "u3",
        "before": None,  # a create's entry
        "after": {"user_id": after["user_id"], "ip_address": after["ip_address"], "startup_id": after["startup_id"]},
    }
    clean = scrubbed_entry(entry, m)
    assert (clean["PK"], clean["SK"], clean["key"]) == (entry["PK"], entry["SK"], entry["key"])
    assert clean["actor"] == KEYS.pseudonym("u3") and clean["after"]["user_id"] == KEYS.pseudonym("u3")
    assert "ip_address" not in clean["after"] and clean["after"]["startup_id"] == after["startup_id"]
    # another user's entry is left as it is
    theirs = {**entry, "actor": "u4", "after": {"user_id": "u4"}}
    assert scrubbed_entry(theirs, m) == theirs
