"""The erasure's pure rules (:mod:`schemas.erasure`): subjects, keyed pseudonyms, which items are about
a subject, and what an item, an envelope and a lake row look like once the subject is erased."""

from __future__ import annotations

import pytest

from auxeira.operations.erase_lake import scrub_rows
from glue_jobs.pii import LOCAL_DEVELOPMENT_KEY, Tokenizer
from glue_jobs.tables import curated_table
from schemas import catalog
from schemas.erasure import (
    ErasureKeys,
    ledger_matcher,
    parse_subject,
    relation,
    scrub_envelope,
    scrubbed,
    subject_matcher,
)
from tests.factories import make_stored_item

KEYS = ErasureKeys(LOCAL_DEVELOPMENT_KEY)
OTHER_KEYS = ErasureKeys(b"another-lake-key-of-32-bytes....")


def test_a_subject_is_user_and_an_id():
    assert parse_subject("USER#u-1") == "u-1"
    for bad in ("u-1", "STARTUP#s1", "USER#", "USER#a|b", "USER#a#b"):
        with pytest.raises(ValueError):
            parse_subject(bad)


def test_pseudonyms_are_deterministic_keyed_and_reveal_nothing():
    # the same subject, the same pseudonym, in every run
    assert KEYS.pseudonym("u1") == ErasureKeys(LOCAL_DEVELOPMENT_KEY).pseudonym("u1")
    assert KEYS.pseudonym("u1") != KEYS.pseudonym("u2")
    # keyed: another key gives another pseudonym; the id is not in it
    assert KEYS.pseudonym("u1") != OTHER_KEYS.pseudonym("u1")
    assert "u1" not in KEYS.pseudonym("u1").removeprefix("erased-")
    # one domain per kind: a subject's hash is not the hash of the same text as a pii value or the lake token
    assert KEYS.subject_hash("u1") != KEYS.value_hash("u1") != Tokenizer(LOCAL_DEVELOPMENT_KEY).token("u1")
    with pytest.raises(ValueError):
        ErasureKeys(b"short")


def test_relation_follows_the_declarations():
    m = subject_matcher(KEYS, "u3", ["user3@example.com"])
    assert relation(catalog.entity("user_session"), make_stored_item("user_session", 3), m) == "owned"
    assert relation(catalog.entity("activity"), make_stored_item("activity", 3), m) == "shared"
    assert relation(catalog.entity("activity"), make_stored_item("activity", 4), m) is None
    assert relation(catalog.entity("startup"), make_stored_item("startup", 1, actor="u3"), m) == "audit"
    # a pending invitation to the subject's email names no id of theirs, and is still about them
    pending = make_stored_item("loan_participant", 2, lender_email="user3@example.com")
    assert relation(catalog.entity("loan_participant"), pending, m) == "shared"
    # a subject inside a list of maps (a team report's burnout risks)
    report = make_stored_item("team_report", 3, "org1")
    assert relation(catalog.entity("team_report"), report, m) == "shared"


def test_a_shared_item_keeps_its_key_and_loses_the_subject():
    m = subject_matcher(KEYS, "u3")
    spec = catalog.entity("activity")
    item = make_stored_item("activity", 3, actor="u3")
    clean = scrubbed(spec, item, m)
    pseudonym = KEYS.pseudonym("u3")
    assert clean["user_id"] == pseudonym and clean["created_by"] == pseudonym and clean["updated_by"] == pseudonym
    assert "ip_address" not in clean  # the activity's pii is its user's: blanked
    assert (clean["PK"], clean["SK"]) == (item["PK"], item["SK"])
    assert scrubbed(spec, clean, m) == clean  # nothing left to change: idempotent
    # a participant invited by the subject keeps its lender's email (it is the lender's, not the subject's)
    participant = make_stored_item("loan_participant", 3, invited_by="u3", lender_id="u9")
    kept = scrubbed(catalog.entity("loan_participant"), participant, m)
    assert kept["invited_by"] == pseudonym and kept["lender_email"] == participant["lender_email"]
    # a required pii value is tokenized into a value of its kind, not removed
    mine = scrubbed(catalog.entity("loan_participant"), make_stored_item("loan_participant", 3, lender_id="u3"), m)
    assert mine["lender_email"].startswith("erased-") and mine["lender_email"].endswith("@erased.invalid")
    # list members and nested maps
    doc = scrubbed(catalog.entity("document"), make_stored_item("document", 1, shared_with=["u3", "u9"]), m)
    assert doc["shared_with"] == [pseudonym, "u9"]
    report = scrubbed(catalog.entity("team_report"), make_stored_item("team_report", 3, "org1"), m)
    assert report["burnoutRisks"][0]["userId"] == pseudonym


def test_ids_match_whole_never_inside_another_id():
    m = subject_matcher(KEYS, "u1")
    assert relation(catalog.entity("activity"), make_stored_item("activity", 10), m) is None  # user u10


def test_envelopes_of_owned_items_go_and_of_shared_items_are_scrubbed_by_the_ledger_alone():
    # GIVEN the ledger's view: hashes only
    m = ledger_matcher(KEYS, [KEYS.subject_hash("u3")], [])
    erased = {KEYS.item_hash("user", "USER#u3|PROFILE")}

    def gone(entity: str, key: str) -> bool:
        return KEYS.item_hash(entity, key) in erased

    profile = {"entity": "user", "key": "USER#u3|PROFILE", "after": make_stored_item("user", 3), "actor": "u3"}
    session = {"entity": "user_session", "key": "USER#u3|SESSION#sess3", "after": make_stored_item("user_session", 3)}
    activity = {
        "entity": "activity",
        "key": "k",
        "before": None,
        "after": make_stored_item("activity", 3),
        "actor": "u3",
    }
    other = {"entity": "activity", "key": "k4", "after": make_stored_item("activity", 4), "actor": "u4"}
    view = {"entity": "page_view", "key": "v1", "after": {"user_id": "u3", "view_id": "v1"}, "actor": "u3"}
    assert scrub_envelope(profile, m, gone) is None
    assert scrub_envelope(session, m, gone) is None  # owned by the image, even if not in the ledger's items
    assert scrub_envelope(view, m, gone) is None  # a published occurrence of the subject
    clean = scrub_envelope(activity, m, gone)
    assert (
        clean is not None and clean["after"]["user_id"] == KEYS.pseudonym("u3") and clean["actor"].startswith("erased-")
    )
    assert scrub_envelope(other, m, gone) == other


def test_lake_rows_of_owned_items_go_and_shared_rows_are_pseudonymized_with_their_pii_tokens_null():
    tokenizer = Tokenizer(LOCAL_DEVELOPMENT_KEY)
    m = subject_matcher(KEYS, "u3")
    table = curated_table("activity")
    mine = {"key": "k3", "actor": "u3", "user_id": "u3", "ip_address": tokenizer.token("10.0.0.3"), "created_by": "u3"}
    theirs = {"key": "k4", "actor": "u4", "user_id": "u4", "ip_address": tokenizer.token("10.0.0.4")}
    rows, change = scrub_rows(table, [mine, theirs], m, lambda e, k: False, frozenset())
    assert rows[1] == theirs and change.scrubbed == 1 and change.dropped == 0
    assert rows[0]["user_id"] == KEYS.pseudonym("u3") and rows[0]["ip_address"] is None
    assert rows[0]["actor"] == rows[0]["created_by"] == KEYS.pseudonym("u3")
    sessions = curated_table("user_session")
    rows, change = scrub_rows(
        sessions, [{"key": "s", "user_id": "u3"}, {"key": "t", "user_id": "u4"}], m, lambda e, k: False, frozenset()
    )
    assert change.dropped == 1 and [r["user_id"] for r in rows] == ["u4"]


def test_an_audit_only_item_keeps_its_pii_and_loses_only_the_actor():
    # GIVEN a startup the subject created: it is the team's, its pii is nobody the subject is
    m = subject_matcher(KEYS, "u3", ["user3@example.com"])
    spec = catalog.entity("startup")
    item = make_stored_item("startup", 1, actor="u3")
    assert relation(spec, item, m) == "audit"
    clean = scrubbed(spec, item, m)
    # THEN only the audit actors change
    assert {k for k in item if clean.get(k) != item[k]} == {"created_by", "updated_by"}


def test_a_shared_lake_row_of_someone_else_loses_only_the_subjects_pii_token():
    # GIVEN a pending invitation row to the subject's email (the lake holds its token, not the email)
    tokenizer = Tokenizer(LOCAL_DEVELOPMENT_KEY)
    m = subject_matcher(KEYS, "u3", ["user3@example.com"])
    table = curated_table("loan_participant")
    token = tokenizer.token("user3@example.com")
    invited = {"key": "k2", "actor": "u9", "invited_by": "u9", "lender_email": token}
    stranger = {"key": "k5", "actor": "u9", "invited_by": "u9", "lender_email": tokenizer.token("x@example.com")}
    rows, change = scrub_rows(table, [invited, stranger], m, lambda e, k: False, frozenset({token}))
    # THEN the row stays for the loan, the email token is gone, the stranger's row is untouched
    assert rows == [{**invited, "lender_email": None}, stranger] and change.scrubbed == 1 and change.dropped == 0


def test_items_found_after_the_plan_join_it_and_an_applied_item_found_again_is_applied_again():
    from auxeira.operations.erase_find import Found
    from auxeira.operations.erase_plan import ErasurePlan, PlannedItem, merge_found

    users, sessions = catalog.table_of_entity("user"), catalog.table_of_entity("user_session")
    name = lambda spec: spec.physical_name("t")  # noqa: E731
    profile = PlannedItem(name(users), "user", "USER#u3|PROFILE", "t1", "owned", "query", 1, 1, 1.0, "deleted")
    waiting = PlannedItem(name(sessions), "user_session", "USER#u3|SESSION#s1", "t1", "owned", "query")
    plan = ErasurePlan("r", "h", "p", "t", "dpo", "", "now", [profile, waiting], [], [], [])

    def found(spec, entity: str, key: str) -> Found:
        return Found(spec, catalog.entity(entity), key, "t1", "owned", {"version": 1}, "scan")

    taken = merge_found(
        plan,
        [
            found(users, "user", "USER#u3|PROFILE"),  # deleted, then written again under its key
            found(sessions, "user_session", "USER#u3|SESSION#s1"),  # planned, not applied yet: as it is
            found(sessions, "user_session", "USER#u3|SESSION#s2"),  # a login during the erasure
        ],
        name,
    )
    assert [i.key for i in taken] == ["USER#u3|SESSION#s2", "USER#u3|PROFILE"]  # the profile last, as planned
    assert [(i.key, i.outcome, i.written_version) for i in plan.items] == [
        ("USER#u3|PROFILE", "", None),
        ("USER#u3|SESSION#s1", "", None),
        ("USER#u3|SESSION#s2", "", None),
    ]
    assert merge_found(plan, [found(sessions, "user_session", "USER#u3|SESSION#s2")], name) == []
