"""Batch writes: one result per operation, and one bad item never fails its neighbours."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from producers.batch_write import InvalidOperationError, WriteOperation, parse_operation
from producers.history import HistoryReader
from producers.repository import Repository
from schemas import catalog
from tests.factories import make_item, make_key
from tests.moto_tables import moto_dynamodb, serialized

ENV = "test"
ACTOR = "importer"
_TABLES = ("loans", "loan-participants", "startups")


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_dynamodb(monkeypatch, [catalog.table(name) for name in _TABLES], ENV, history=True) as ddb:
        yield ddb


@pytest.fixture(params=[False, True], ids=["plain", "history"])
def repo(client: Any, request: pytest.FixtureRequest) -> Repository:
    return Repository(serialized(client), env=ENV, history=request.param, max_workers=4)


def _create(entity: str, n: int, **overrides: Any) -> dict[str, Any]:
    return {"op": "create", "entity": entity, "values": make_item(entity, n, **overrides)}


# -- per-item results -------------------------------------------------------------------------


def test_bad_items_fail_alone_with_a_reason_naming_the_field(repo: Repository) -> None:
    # GIVEN three participants to invite, the second with a malformed email
    operations = [
        _create("loan_participant", 0),
        _create("loan_participant", 2, lender_email="not-an-email"),
        _create("loan_participant", 4),
    ]
    # WHEN they are written as one batch
    outcome = repo.batch_write(operations, actor=ACTOR)
    # THEN the good ones are stored and the bad one is reported, by index, key and field
    assert outcome["summary"] == {"total": 3, "succeeded": 2, "failed": 1}
    ok, bad, ok2 = outcome["results"]
    assert (ok["status"], ok["version"], ok["key"]) == ("created", 1, make_key("loan_participant", 0))
    assert (bad["index"], bad["status"], bad["key"]) == (1, "failed", make_key("loan_participant", 2))
    assert bad["error"]["type"] == "EntityValidationError" and bad["error"]["fields"] == ["lender_email"]
    assert ok2["status"] == "created"
    assert repo.get("loan_participant", make_key("loan_participant", 2)) is None
    assert repo.get("loan_participant", make_key("loan_participant", 4)) is not None


def test_every_kind_of_failure_is_a_result(repo: Repository) -> None:
    # GIVEN a stored loan at version 1
    repo.create("loan", make_item("loan", 1), actor=ACTOR)
    operations = [
        _create("loan", 1),  # duplicate
        {"op": "update", "entity": "loan", "key": make_key("loan", 9), "changes": {"status": "open"}},  # missing
        {
            "op": "update",
            "entity": "loan",
            "key": make_key("loan", 1),
            "changes": {"status": "open"},
            "expected_version": 7,
        },  # stale
        {"op": "upsert", "entity": "loan"},  # unknown op
        {"op": "create", "entity": "spaceship", "values": {}},  # unknown entity
        {"op": "delete", "entity": "loan", "key": "LOAN#only-one-part"},  # malformed key
        {"op": "update", "entity": "loan", "key": make_key("loan", 1)},  # missing part
        _create("loan", 5),  # fine
    ]
    # WHEN they run
    outcome = repo.batch_write(operations, actor=ACTOR)
    # THEN each failure says what went wrong, and the good neighbour still went through
    errors = [(r["error"] or {}).get("type") for r in outcome["results"]]
    assert errors == [
        "ConflictError",
        "NotFoundError",
        "ConflictError",
        "InvalidOperationError",
        "UnknownEntityError",
        "EntityValidationError",
        "InvalidOperationError",
        None,
    ]
    fields = [(r["error"] or {}).get("fields") for r in outcome["results"]]
    assert fields[3:7] == [["op"], ["entity"], ["key"], ["changes"]]
    assert [r["index"] for r in outcome["results"]] == list(range(8))
    assert outcome["summary"] == {"total": 8, "succeeded": 1, "failed": 7}
    assert repo.get("loan", make_key("loan", 1))["version"] == 1


def test_operations_on_one_item_run_in_the_order_given(repo: Repository) -> None:
    # GIVEN many items, each created, updated twice and soft-deleted in the same batch
    operations: list[dict[str, Any]] = []
    for n in range(8):
        key = make_key("loan", n)
        operations += [
            _create("loan", n),
            {"op": "update", "entity": "loan", "key": key, "changes": {"purpose": "a"}, "expected_version": 1},
            {"op": "update", "entity": "loan", "key": key, "changes": {"purpose": "b"}, "expected_version": 2},
            {"op": "soft_delete", "entity": "loan", "key": key, "reason": "done", "expected_version": 3},
        ]
    # WHEN the batch runs on four threads
    outcome = repo.batch_write(operations, actor=ACTOR)
    # THEN every step found the version its predecessor left
    assert outcome["summary"]["failed"] == 0
    assert [r["version"] for r in outcome["results"][:4]] == [1, 2, 3, 4]
    for n in range(8):
        stored = repo.get("loan", make_key("loan", n))
        assert (stored["purpose"], stored["deleted_reason"], stored["version"]) == ("b", "done", 4)


def test_hard_delete_in_a_batch_reports_no_version(repo: Repository) -> None:
    repo.create("startup", make_item("startup", 1), actor=ACTOR)
    outcome = repo.batch_write([{"op": "delete", "entity": "startup", "key": make_key("startup", 1)}], actor=ACTOR)
    assert outcome["results"][0] | {"error": None} == {
        "index": 0,
        "op": "delete",
        "entity": "startup",
        "key": make_key("startup", 1),
        "status": "deleted",
        "version": None,
        "error": None,
    }
    assert repo.get("startup", make_key("startup", 1)) is None


def test_empty_batch(repo: Repository) -> None:
    assert repo.batch_write([], actor=ACTOR) == {"results": [], "summary": {"total": 0, "succeeded": 0, "failed": 0}}


# -- the pool ---------------------------------------------------------------------------------


class _FlakyClient:
    """Fails every write of one key with a throttling error; records the threads used."""

    def __init__(self, real: Any, failing_key: str) -> None:
        self._real, self._failing = real, failing_key
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _write(self, name: str, **kwargs: Any) -> Any:
        with self._lock:
            self.threads.add(threading.current_thread().name)
        item = kwargs.get("Item") or kwargs["TransactItems"][0]["Put"]["Item"]
        if item["PK"]["S"] == self._failing:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, name
            )
        return getattr(self._real, name)(**kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        return self._write("put_item", **kwargs)

    def transact_write_items(self, **kwargs: Any) -> Any:
        return self._write("transact_write_items", **kwargs)


@pytest.mark.parametrize("history", [False, True], ids=["plain", "history"])
def test_a_service_error_on_one_item_leaves_the_others_written_in_parallel(client: Any, history: bool) -> None:
    flaky = _FlakyClient(serialized(client), failing_key="LOAN#l3")
    repo = Repository(flaky, env=ENV, history=history, max_workers=4)
    outcome = repo.batch_write([_create("loan", n) for n in range(12)], actor=ACTOR)
    statuses = [r["status"] for r in outcome["results"]]
    assert statuses == ["created"] * 3 + ["failed"] + ["created"] * 8
    assert outcome["results"][3]["error"]["type"] == "ProvisionedThroughputExceededException"
    assert len(flaky.threads) > 1  # the items really went out on several threads
    assert all(t.startswith("batch") for t in flaky.threads)


def test_one_worker_runs_in_the_calling_thread(client: Any) -> None:
    flaky = _FlakyClient(client, failing_key="none")
    Repository(flaky, env=ENV, max_workers=1).batch_write([_create("loan", n) for n in range(3)], actor=ACTOR)
    assert flaky.threads == {threading.current_thread().name}


def test_history_is_written_for_each_batch_item(client: Any) -> None:
    repo = Repository(client, env=ENV, history=True)
    repo.batch_write(
        [
            _create("loan", 1),
            {"op": "update", "entity": "loan", "key": make_key("loan", 1), "changes": {"purpose": "stock"}},
        ],
        actor=ACTOR,
    )
    entries = list(HistoryReader(client, env=ENV).entries("loan", make_key("loan", 1)))
    assert [(e.version, e.action, e.actor) for e in entries] == [(1, "create", ACTOR), (2, "update", ACTOR)]


# -- parsing ----------------------------------------------------------------------------------


def test_parse_operation_accepts_the_dataclass_and_rejects_strangers() -> None:
    op = WriteOperation(0, "delete", "loan", key="LOAN#l1|META")
    assert parse_operation(0, op) is op
    with pytest.raises(InvalidOperationError) as err:
        parse_operation(3, {"op": "delete", "entity": "loan", "key": "k", "colour": "red"})
    assert (err.value.index, err.value.fields) == (3, ["colour"])
    with pytest.raises(InvalidOperationError) as err:
        parse_operation(0, {"op": "delete", "entity": "loan", "key": "k", "expected_version": "2"})
    assert err.value.fields == ["expected_version"]
