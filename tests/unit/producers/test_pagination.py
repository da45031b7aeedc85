"""Cursor pagination and field selection of Repository.list, on the table and on GSIs."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from producers.pagination import InvalidCursorError, InvalidQueryError, Page, decode_cursor, encode_cursor
from producers.repository import Repository
from schemas import catalog
from tests.factories import make_item
from tests.moto_tables import moto_dynamodb

ENV = "test"
ACTOR = "loader"
_TABLES = ("users", "startups", "activities", "chatbot-conversations", "investor-matches", "loan-participants")


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    specs = [catalog.table(name) for name in _TABLES]
    specs.append(catalog.table("organizations", "devinsights-{name}-{env}"))
    with moto_dynamodb(monkeypatch, specs, ENV) as ddb:
        yield ddb


@pytest.fixture
def repo(client: Any) -> Repository:
    return Repository(client, env=ENV)


def _all_pages(repo: Repository, entity: str, limit: int, **query: Any) -> list[Page]:
    pages = [repo.list(entity, limit=limit, **query)]
    while pages[-1].next_cursor:
        pages.append(repo.list(entity, limit=limit, cursor=pages[-1].next_cursor, **query))
    return pages


def _activities(repo: Repository, startup: str, count: int, first: int = 0) -> list[dict[str, Any]]:
    return [
        repo.create("activity", make_item("activity", n, startup_id=startup), actor=ACTOR)
        for n in range(first, first + count)
    ]


# -- by partition ----------------------------------------------------------------------------


def test_cursor_walks_a_startups_activities_page_by_page(repo: Repository) -> None:
    # GIVEN 7 activities of one startup, and some of another
    mine = _activities(repo, "s1", 7)
    _activities(repo, "s2", 3, first=100)
    # WHEN they are listed 3 at a time
    pages = _all_pages(repo, "activity", 3, partition={"startup_id": "s1"})
    # THEN three pages hold each of the startup's activities once, in time order
    assert [len(p.items) for p in pages] == [3, 3, 1]
    assert [i["activity_id"] for p in pages for i in p.items] == [a["activity_id"] for a in mine]
    assert pages[-1].next_cursor is None and not pages[-1].has_more
    # AND the raw partition key value works the same as the id fields
    assert repo.list("activity", partition="STARTUP#s1", limit=3).items == pages[0].items


def test_sort_condition_is_relative_to_the_entitys_sort_key_prefix(repo: Repository) -> None:
    activities = _activities(repo, "s1", 6)
    lo, hi = activities[1]["timestamp"], activities[3]["timestamp"]
    page = repo.list("activity", partition={"startup_id": "s1"}, key_condition=("between", lo, hi + "~"))
    assert [i["activity_id"] for i in page.items] == ["a1", "a2", "a3"]


def test_a_partition_shared_with_another_entity_lists_only_the_asked_one(repo: Repository) -> None:
    # GIVEN a startup profile and its metrics in the same partition
    repo.create("startup", make_item("startup", 1), actor=ACTOR)
    for day in range(4):
        repo.create("startup_metric", make_item("startup_metric", 1, date=f"2026-02-0{day + 1}"), actor=ACTOR)
    # THEN each entity's list sees only its own items
    metrics = _all_pages(repo, "startup_metric", 3, partition={"startup_id": "s1"})
    assert [i["date"] for p in metrics for i in p.items] == ["2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"]
    profile = repo.list("startup", partition={"startup_id": "s1"})
    assert [i["SK"] for i in profile.items] == ["PROFILE"]


# -- by GSI ----------------------------------------------------------------------------------


def test_users_by_type_over_several_pages(repo: Repository) -> None:
    vcs = [repo.create("user", make_item("user", n, user_type="venture_capital"), actor=ACTOR) for n in range(5)]
    repo.create("user", make_item("user", 50, user_type="government"), actor=ACTOR)
    pages = _all_pages(repo, "user", 2, index="UserTypeIndex", partition="venture_capital")
    assert sorted(i["user_id"] for p in pages for i in p.items) == sorted(u["user_id"] for u in vcs)
    assert len(pages) == 3


def test_participants_by_lender_email_and_status(repo: Repository) -> None:
    for n in range(4):
        status = (
            {"status": "pending"}
            if n % 2 == 0
            else {"status": "accepted", "lender_id": "u1", "responded_at": "2026-02-01T00:00:00Z"}
        )
        repo.create(
            "loan_participant", make_item("loan_participant", n, lender_email="Ada@Example.com", **status), actor=ACTOR
        )
    pending = repo.list(
        "loan_participant", index="LenderEmailIndex", partition="ada@example.com", key_condition="pending"
    )
    assert sorted(i["participant_id"] for i in pending.items) == ["lp0", "lp2"]
    assert {i["status"] for i in pending.items} == {"pending"}


def test_number_typed_index_sort_key(repo: Repository) -> None:
    for n, score in enumerate((0.2, 0.5, 0.9)):
        repo.create("investor_match", make_item("investor_match", n, investor_id="inv", match_score=score), actor=ACTOR)
    page = repo.list("investor_match", index="InvestorMatchIndex", partition="inv", key_condition=(">=", 0.5))
    assert [i["match_score"] for i in page.items] == [0.5, 0.9]


def test_an_index_shared_by_two_entities_of_one_table_lists_only_the_asked_one(repo: Repository) -> None:
    # GIVEN a conversation header and its messages, all in StartupConversationIndex
    repo.create("chatbot_conversation", make_item("chatbot_conversation", 1), actor=ACTOR)
    for n in range(3):
        repo.create("chatbot_message", make_item("chatbot_message", 1, message_id=f"m{n}"), actor=ACTOR)
    messages = repo.list("chatbot_message", index="StartupConversationIndex", partition="s1")
    conversations = repo.list("chatbot_conversation", index="StartupConversationIndex", partition="s1")
    assert sorted(i["message_id"] for i in messages.items) == ["m0", "m1", "m2"]
    assert [i["conversation_id"] for i in conversations.items] == ["c1"]


def test_a_filtered_index_still_fills_each_page(repo: Repository) -> None:
    # GIVEN members and invitations of one organization sharing GSI1 (told apart by entityType)
    for n in range(5):
        repo.create("member", make_item("member", n, tenant="org1", GSI1PK="ORG#org1", GSI1SK=f"A{n}"), actor=ACTOR)
        repo.create(
            "invitation", make_item("invitation", n, tenant="org1", GSI1PK="ORG#org1", GSI1SK=f"A{n}"), actor=ACTOR
        )
    # WHEN members are listed 2 at a time THEN pages are full and only members appear
    pages = _all_pages(repo, "member", 2, index="GSI1", partition="ORG#org1")
    assert [len(p.items) for p in pages if p.items] == [2, 2, 1]
    assert {i["entityType"] for p in pages for i in p.items} == {"MEMBER"}


# -- cursors ---------------------------------------------------------------------------------


def test_a_tampered_cursor_is_rejected(repo: Repository) -> None:
    _activities(repo, "s1", 4)
    cursor = repo.list("activity", partition={"startup_id": "s1"}, limit=2).next_cursor
    body, mac = cursor.split(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).replace(b"s1", b"s2")
    forged = base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + mac
    with pytest.raises(InvalidCursorError, match="signature does not match"):
        repo.list("activity", partition={"startup_id": "s1"}, limit=2, cursor=forged)


def test_a_cursor_of_another_query_is_rejected(repo: Repository) -> None:
    _activities(repo, "s1", 4)
    _activities(repo, "s2", 4, first=10)
    cursor = repo.list("activity", partition={"startup_id": "s1"}, limit=2).next_cursor
    with pytest.raises(InvalidCursorError, match="another query"):
        repo.list("activity", partition={"startup_id": "s2"}, limit=2, cursor=cursor)
    with pytest.raises(InvalidCursorError, match="another query"):
        repo.list("activity", index="UserActivityIndex", partition="u1", limit=2, cursor=cursor)


def test_a_cursor_signed_with_another_secret_is_rejected(client: Any) -> None:
    repo_a = Repository(client, env=ENV, cursor_secret=b"a" * 32)
    repo_b = Repository(client, env=ENV, cursor_secret=b"b" * 32)
    _activities(repo_a, "s1", 3)
    cursor = repo_a.list("activity", partition={"startup_id": "s1"}, limit=1).next_cursor
    assert repo_a.list("activity", partition={"startup_id": "s1"}, limit=1, cursor=cursor).items
    with pytest.raises(InvalidCursorError, match="signature"):
        repo_b.list("activity", partition={"startup_id": "s1"}, limit=1, cursor=cursor)


@pytest.mark.parametrize(
    "cursor,problem",
    [("garbage", "not a cursor"), ("a.b.c", "not a cursor"), ("!!.??", "base64url"), (".", "base64url")],
)
def test_malformed_cursors_say_so(repo: Repository, cursor: str, problem: str) -> None:
    with pytest.raises(InvalidCursorError, match=problem):
        repo.list("activity", partition={"startup_id": "s1"}, cursor=cursor)


def test_cursor_round_trip_and_page_size_may_change_between_pages(repo: Repository) -> None:
    _activities(repo, "s1", 5)
    first = repo.list("activity", partition={"startup_id": "s1"}, limit=2)
    rest = repo.list("activity", partition={"startup_id": "s1"}, limit=10, cursor=first.next_cursor)
    assert [i["activity_id"] for i in first.items + rest.items] == ["a0", "a1", "a2", "a3", "a4"]
    key = {"PK": {"S": "STARTUP#s1"}, "SK": {"S": "ACTIVITY#x"}}
    assert decode_cursor(encode_cursor(key, "q1"), "q1") == key


# -- field selection ---------------------------------------------------------------------------


def test_fields_become_a_projection_including_reserved_words(repo: Repository) -> None:
    repo.create("user", make_item("user", 1), actor=ACTOR)
    page = repo.list("user", partition={"user_id": "u1"}, fields="user_id, status ,email")
    assert page.items == [{"user_id": "u1", "status": "active", "email": "user1@example.com"}]


def test_nested_fields_can_be_selected(repo: Repository) -> None:
    repo.create("startup", make_item("startup", 1), actor=ACTOR)
    page = repo.list("startup", partition={"startup_id": "s1"}, fields=["company_details.legal_name", "stage"])
    assert page.items == [{"company_details": {"legal_name": "Startup 1 Ltd"}, "stage": "Pre-Seed"}]


def test_fields_work_across_pages(repo: Repository) -> None:
    _activities(repo, "s1", 3)
    pages = _all_pages(repo, "activity", 2, partition={"startup_id": "s1"}, fields="activity_id")
    assert [i for p in pages for i in p.items] == [{"activity_id": f"a{n}"} for n in range(3)]


@pytest.mark.parametrize(
    "fields,named", [("user_id,colour", "colour"), ("user_id,,email", "<empty>"), ("tags[0]", "tags[0]")]
)
def test_unknown_or_malformed_field_names_the_field(repo: Repository, fields: str, named: str) -> None:
    with pytest.raises(InvalidQueryError) as err:
        repo.list("user", partition={"user_id": "u1"}, fields=fields)
    assert err.value.field == named and named in str(err.value)


# -- query validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query,field",
    [
        ({"partition": "x", "index": "NoSuchIndex"}, "index"),
        ({"partition": {"startup_id": "s1"}, "limit": 0}, "limit"),
        ({"partition": {"startup_id": "s1"}, "limit": 1001}, "limit"),
        ({"partition": {"startup_id": "s1"}, "key_condition": ("~", "x")}, "key_condition"),
        ({"partition": {"startup_id": "s1"}, "key_condition": ("between", "x")}, "key_condition"),
        ({"partition": {"user_id": "u1"}}, "startup_id"),
        ({"partition": 42}, "PK"),
        ({"partition": "u1", "index": "UserActivityIndex", "consistent": True}, "consistent"),
    ],
)
def test_malformed_queries_name_the_problem(repo: Repository, query: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidQueryError) as err:
        repo.list("activity", **query)
    assert err.value.field == field


def test_a_condition_on_a_fixed_sort_key_is_refused(repo: Repository) -> None:
    with pytest.raises(InvalidQueryError, match="PROFILE"):
        repo.list("startup", partition={"startup_id": "s1"}, key_condition="x")


def test_a_string_for_a_number_index_key_is_refused(repo: Repository) -> None:
    with pytest.raises(InvalidQueryError) as err:
        repo.list("investor_match", index="InvestorMatchIndex", partition="inv", key_condition=(">", "0.5"))
    assert err.value.field == "match_score"


def test_get_selects_fields_too(repo: Repository) -> None:
    repo.create("user", make_item("user", 1), actor=ACTOR)
    assert repo.get("user", {"user_id": "u1"}, fields=["full_name", "status"]) == {
        "full_name": "User 1",
        "status": "active",
    }
    with pytest.raises(InvalidQueryError) as err:
        repo.get("user", {"user_id": "u1"}, fields="full_nam")
    assert err.value.field == "full_nam"
