"""Data versioning: every write keeps the previous image, atomically, without secrets."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from rich.console import Console

from auxeira.cli.history import show_history
from auxeira.cli.output import Output
from infra.tables import create_table_request
from producers.history import SECRET, HistoryReader
from producers.history_items import HISTORY_TABLE, LEGACY_GENERATION, history_item, history_sk
from producers.pagination import InvalidCursorError
from producers.repository import Repository
from schemas import catalog
from schemas.errors import ConflictError, NotFoundError
from schemas.secrets import public_image
from schemas.wire.dynamodb import format_timestamp, serialize_item
from tests.clocks import T0, TickingClock
from tests.factories import ENTITY_NAMES, make_item, make_key
from tests.moto_tables import moto_dynamodb

ENV = "test"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_dynamodb(monkeypatch, catalog.TABLES, ENV, history=True) as ddb:
        yield ddb


@pytest.fixture
def repo(client: Any) -> Repository:
    return Repository(client, env=ENV, clock=TickingClock(), history=True)


@pytest.fixture
def reader(client: Any) -> HistoryReader:
    return HistoryReader(client, env=ENV)


def _public(entity: str, item: dict[str, Any]) -> dict[str, Any]:
    return public_image(item, catalog.entity(entity).secret)


def _raw_history(client: Any) -> list[dict[str, Any]]:
    return client.scan(TableName=HISTORY_TABLE.physical_name(ENV))["Items"]


# -- who changed what, when ---------------------------------------------------------------


def test_every_write_leaves_an_entry_with_actor_time_changes_and_previous_image(
    repo: Repository, reader: HistoryReader
) -> None:
    # GIVEN a loan created, updated, soft-deleted and removed by four people
    key = make_key("loan", 1)
    v1 = repo.create("loan", make_item("loan", 1, status="draft"), actor="ana")
    v2 = repo.update("loan", key, {"status": "open", "purpose": "inventory"}, actor="ben")
    v3 = repo.soft_delete("loan", key, actor="cy", reason="withdrawn")
    repo.delete("loan", key, actor="dee")
    # WHEN its history is read
    entries = list(reader.entries("loan", key))
    # THEN there is one entry per write, in order, naming who, when and what
    assert [(e.version, e.action, e.actor) for e in entries] == [
        (1, "create", "ana"),
        (2, "update", "ben"),
        (3, "soft_delete", "cy"),
        (4, "delete", "dee"),
    ]
    assert [e.at for e in entries[:3]] == [v1["updated_at"], v2["updated_at"], v3["updated_at"]]
    assert entries[1].diff() == {"purpose": (None, "inventory"), "status": ("draft", "open")}
    assert entries[2].changed == ("deleted_at", "deleted_by", "deleted_reason")
    # AND each entry keeps the image it replaced (secrets aside), the removed one included
    assert [e.before for e in entries] == [None, _public("loan", v1), _public("loan", v2), _public("loan", v3)]
    assert reader.before("loan", key, 4) == _public("loan", v3)


def test_hard_delete_records_who_removed_the_item(repo: Repository, reader: HistoryReader) -> None:
    repo.create("document", make_item("document", 1), actor="ana")
    removed = repo.delete("document", make_key("document", 1), actor="auditor")
    last = list(reader.entries("document", make_key("document", 1)))[-1]
    assert (last.action, last.actor, last.version, last.before) == ("delete", "auditor", 2, removed)


@pytest.mark.parametrize("entity", [e for e in ENTITY_NAMES if catalog.entity(e).secret])
def test_no_secret_value_reaches_the_history_table(
    repo: Repository, client: Any, reader: HistoryReader, entity: str
) -> None:
    # GIVEN an item whose secret fields hold markers, then change them and remove the item
    spec = catalog.entity(entity)
    values = make_item(entity, 3)
    for path in spec.secret:
        _set_path(values, path, _marker(values, path, "OLD"))
    created = repo.create(entity, values, actor="ana")
    key = catalog.table_of_entity(entity).key_of(created)
    changes: dict[str, Any] = {}
    for path in spec.secret:
        top = path.split(".")[0]
        changes[top] = _set_path({top: created[top]}, path, _marker(created, path, "NEW"))[top]
    repo.update(entity, key, changes, actor="ben")
    repo.delete(entity, key, actor="cy")
    # THEN no marker is anywhere in the stored entries
    raw = json.dumps(_raw_history(client))
    assert "SECRET-" not in raw
    # AND the change of a top-level secret is still listed, by name only
    update = list(reader.entries(entity, key))[1]
    for path in spec.secret:
        assert path.split(".")[0] in update.changed
        if "." not in path:
            assert update.diff()[path] == (SECRET, SECRET)


def _marker(item: dict[str, Any], path: str, label: str) -> Any:
    """A recognisable secret value, shaped like the field (a map for a map field)."""
    current: Any = item
    for part in path.split("."):
        current = (current or {}).get(part)
    text = f"{label}-SECRET-{path}"
    return {"value": text} if isinstance(current, dict) else text


def _set_path(node: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    parts = path.split(".")
    cursor = node
    for part in parts[:-1]:
        cursor[part] = dict(cursor.get(part) or {})
        cursor = cursor[part]
    cursor[parts[-1]] = value
    return node


# -- atomicity ----------------------------------------------------------------------------------


def test_a_refused_write_leaves_no_entry(repo: Repository, reader: HistoryReader) -> None:
    # GIVEN a startup at version 2
    repo.create("startup", make_item("startup", 1), actor="ana")
    key = make_key("startup", 1)
    repo.update("startup", key, {"tagline": "v2"}, actor="ana")
    # WHEN a stale update, a duplicate create and a stale delete are refused
    with pytest.raises(ConflictError):
        repo.update("startup", key, {"tagline": "stale"}, actor="ben", expected_version=1)
    with pytest.raises(ConflictError):
        repo.create("startup", make_item("startup", 1), actor="ben")
    with pytest.raises(ConflictError):
        repo.delete("startup", key, actor="ben", expected_version=1)
    # THEN history still has the two writes that happened, and nothing of ben's
    assert [(e.version, e.actor) for e in reader.entries("startup", key)] == [(1, "ana"), (2, "ana")]


def test_an_entry_that_cannot_be_written_cancels_the_change(repo: Repository, client: Any) -> None:
    # GIVEN an entry already stored where the next update's entry would go
    created = repo.create("loan", make_item("loan", 1, status="draft"), actor="ana")
    key = make_key("loan", 1)
    squatter = {"PK": f"loan#{key}", "SK": history_sk(created["created_at"], 2), "note": "already here"}
    client.put_item(TableName=HISTORY_TABLE.physical_name(ENV), Item=serialize_item(squatter))
    # WHEN the update runs THEN it fails, and the loan did not change either
    with pytest.raises(ConflictError):
        repo.update("loan", key, {"status": "open"}, actor="ben")
    stored = repo.get("loan", key)
    assert (stored["status"], stored["version"]) == ("draft", 1)


class _RacingClient:
    """Runs ``interleave`` just before the first transaction: another writer wins the race."""

    def __init__(self, real: Any, interleave: Any) -> None:
        self._real, self._interleave = real, interleave

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        if self._interleave is not None:
            interleave, self._interleave = self._interleave, None
            interleave()
        return self._real.transact_write_items(**kwargs)


def test_losing_a_race_reports_the_winner_and_keeps_only_its_entry(client: Any, reader: HistoryReader) -> None:
    clock = TickingClock()
    winner = Repository(client, env=ENV, clock=clock, history=True)
    winner.create("loan", make_item("loan", 1), actor="ana")
    key = make_key("loan", 1)
    racing = _RacingClient(client, lambda: winner.update("loan", key, {"status": "open"}, actor="win"))
    loser = Repository(racing, env=ENV, clock=clock, history=True)
    with pytest.raises(ConflictError) as err:
        loser.update("loan", key, {"status": "cancelled"}, actor="lose", expected_version=1)
    assert (err.value.expected, err.value.actual) == (1, 2)
    assert [e.actor for e in reader.entries("loan", key)] == ["ana", "win"]


def test_delete_of_an_item_removed_meanwhile_is_not_found(client: Any) -> None:
    clock = TickingClock()
    other = Repository(client, env=ENV, clock=clock, history=True)
    other.create("loan", make_item("loan", 1), actor="ana")
    key = make_key("loan", 1)
    racing = _RacingClient(client, lambda: other.delete("loan", key, actor="first"))
    with pytest.raises(NotFoundError):
        Repository(racing, env=ENV, clock=clock, history=True).delete("loan", key, actor="second")


# -- shapes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("entity", ENTITY_NAMES)
def test_transactional_update_returns_what_get_returns(repo: Repository, entity: str) -> None:
    # TransactWriteItems cannot return the new item: the repository computes it, and
    # it must be exactly what a read gives back, for every entity.
    created = repo.create(entity, make_item(entity, 4), actor="ana")
    key = catalog.table_of_entity(entity).key_of(created)
    updated = repo.update(entity, key, {}, actor="ben")
    assert updated == repo.get(entity, key)
    assert updated["version"] == 2


def test_numbers_in_the_returned_item_read_back_the_same(repo: Repository) -> None:
    repo.create("startup_metric", make_item("startup_metric", 1), actor="ana")
    key = make_key("startup_metric", 1)
    updated = repo.update("startup_metric", key, {"mrr": 10.0, "churn_rate": 0.1}, actor="ana")
    assert updated == repo.get("startup_metric", key)
    assert type(updated["mrr"]) is int


def test_an_item_created_again_after_removal_starts_a_new_generation(repo: Repository, reader: HistoryReader) -> None:
    # GIVEN a participant removed and then invited again (versions restart at 1)
    key = make_key("loan_participant", 2)
    repo.create("loan_participant", make_item("loan_participant", 2), actor="ana")
    repo.delete("loan_participant", key, actor="ana")
    again = repo.create("loan_participant", make_item("loan_participant", 2), actor="ben")
    # THEN the old life's entries are kept and the new one follows them
    entries = list(reader.entries("loan_participant", key))
    assert [(e.version, e.action) for e in entries] == [(1, "create"), (2, "delete"), (1, "create")]
    assert entries[0].generation == entries[1].generation < entries[2].generation == again["created_at"]


def test_an_item_written_without_version_is_versioned_from_its_first_update(
    repo: Repository, client: Any, reader: HistoryReader
) -> None:
    legacy = {"PK": "EVENT#legacy", "SK": "META", **make_item("event", 9, event_id="legacy")}
    client.put_item(TableName=catalog.table("events").physical_name(ENV), Item=serialize_item(legacy))
    repo.update("event", "EVENT#legacy|META", {"title": "Now versioned"}, actor="ana")
    [entry] = reader.entries("event", "EVENT#legacy|META")
    assert (entry.version, entry.generation, entry.before) == (1, LEGACY_GENERATION, legacy)


def test_history_off_writes_no_entries(client: Any) -> None:
    repo = Repository(client, env=ENV)
    repo.create("loan", make_item("loan", 1, status="draft"), actor="ana")
    repo.update("loan", make_key("loan", 1), {"status": "open"}, actor="ana")
    assert repo.history_table is None
    assert _raw_history(client) == []


def test_history_table_has_no_stream_and_is_keyed_by_item_and_version() -> None:
    kwargs = create_table_request(HISTORY_TABLE, "dev")
    assert "StreamSpecification" not in kwargs
    assert [k["AttributeName"] for k in kwargs["KeySchema"]] == ["PK", "SK"]


def test_versions_sort_numerically_within_a_generation() -> None:
    assert history_sk("g", 9) < history_sk("g", 10) < history_sk("g", 100)


def test_an_oversized_entry_keeps_the_previous_image_and_drops_the_redundant_after() -> None:
    spec, table = catalog.entity("document"), catalog.table_of_entity("document")
    big = "x" * 200_000
    before = {"document_id": "d1", "version": 1, "created_at": "t", "document_description": big}
    after = {**before, "version": 2, "document_description": big + "y"}
    entry = history_item(spec, table, "k", action="update", actor="a", at="t", before=before, after=after)
    assert (entry["after"], entry["after_omitted"], entry["before"]) == ({}, True, before)


# -- reading ------------------------------------------------------------------------------------


def test_history_pages_with_cursors_bound_to_the_item(repo: Repository, reader: HistoryReader) -> None:
    key = make_key("loan", 1)
    repo.create("loan", make_item("loan", 1, status="draft"), actor="ana")
    for n in range(4):
        repo.update("loan", key, {"purpose": f"p{n}"}, actor="ana")
    first = reader.page("loan", key, limit=2, newest_first=True)
    second = reader.page("loan", key, limit=2, cursor=first.next_cursor, newest_first=True)
    assert [e.version for e in first.items + second.items] == [5, 4, 3, 2]
    repo.create("loan", make_item("loan", 2), actor="ana")
    with pytest.raises(InvalidCursorError, match="another query"):
        reader.page("loan", make_key("loan", 2), limit=2, cursor=first.next_cursor, newest_first=True)


def test_cli_prints_versions_as_json(
    repo: Repository, reader: HistoryReader, capsys: pytest.CaptureFixture[str]
) -> None:
    key = make_key("loan_participant", 0)
    repo.create("loan_participant", make_item("loan_participant", 0), actor="ana")
    repo.update("loan_participant", key, {"status": "declined", "responded_at": "2026-03-02T00:00:00Z"}, actor="lender")
    code = show_history(reader, "loan_participant", key, out=Output(True, Console(file=io.StringIO())))
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(v["version"], v["action"], v["actor"]) for v in document["versions"]] == [
        (1, "create", "ana"),
        (2, "update", "lender"),
    ]
    assert document["versions"][1]["diff"]["status"] == {"from": "pending", "to": "declined"}
    assert document["versions"][1]["at"] == format_timestamp(T0 + timedelta(seconds=1))


def test_cli_table_names_actor_and_change(repo: Repository, reader: HistoryReader) -> None:
    key = make_key("loan", 1)
    repo.create("loan", make_item("loan", 1, status="draft"), actor="ana")
    repo.update("loan", key, {"status": "open"}, actor="ben")
    console = Console(record=True, width=200, file=io.StringIO())
    assert show_history(reader, "loan", key, out=Output(False, console)) == 0
    text = console.export_text()
    assert "ben" in text and "status: draft -> open" in text


@pytest.mark.parametrize(
    "entity,key,code", [("loan", "LOAN#none|META", 1), ("no_such_entity", "x|y", 2), ("loan", "LOAN#only-one-part", 2)]
)
def test_cli_exit_codes(reader: HistoryReader, entity: str, key: str, code: int) -> None:
    assert show_history(reader, entity, key, out=Output(False, Console(record=True, file=io.StringIO()))) == code


def test_cli_explains_a_missing_history_table(client: Any) -> None:
    console = Console(record=True, width=200, file=io.StringIO())
    code = show_history(HistoryReader(client, env="elsewhere"), "loan", "LOAN#l1|META", out=Output(False, console))
    assert code == 2 and "history=True" in console.export_text()
