"""History on DynamoDB Local: the change and its entry commit together or not at all.

moto checks the logic; this checks the real engine's TransactWriteItems: cancellation
reasons, the item handed back on a failed condition, and that a cancelled transaction
leaves neither an entry nor a stream record.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local import Endpoints
from infra.tables import create_table_request
from producers.history import HistoryReader
from producers.history_items import HISTORY_TABLE, history_sk
from producers.repository import Repository
from schemas import catalog
from schemas.errors import ConflictError
from schemas.wire.dynamodb import serialize_item
from tests.factories import make_item, make_key

pytestmark = pytest.mark.integration

LOANS = catalog.table("loans")


@pytest.fixture
def env(local_stack: Endpoints) -> Iterator[str]:
    """A fresh environment with the loans table (streamed) and the history table."""
    name = f"hist{uuid.uuid4().hex[:10]}"
    client = local_stack.dynamodb_client()
    client.create_table(**create_table_request(LOANS, name))
    client.create_table(**create_table_request(HISTORY_TABLE, name))
    try:
        yield name
    finally:
        for table in (LOANS.physical_name(name), HISTORY_TABLE.physical_name(name)):
            client.delete_table(TableName=table)


class _CountingReads:
    def __init__(self, real: Any) -> None:
        self._real, self.reads = real, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def get_item(self, **kwargs: Any) -> Any:
        self.reads += 1
        return self._real.get_item(**kwargs)


def _stream_events(endpoints: Endpoints, env: str) -> list[tuple[str, int]]:
    """(eventName, version) of every stream record of the loans table so far."""
    streams = endpoints.dynamodbstreams_client()
    arn = endpoints.dynamodb_client().describe_table(TableName=LOANS.physical_name(env))["Table"]["LatestStreamArn"]
    out = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator)["Records"]
        for r in records:
            image = r["dynamodb"].get("NewImage") or r["dynamodb"]["OldImage"]
            out.append((r["eventName"], int(image["version"]["N"])))
    return out


def test_each_committed_write_has_its_entry_and_a_refused_one_has_neither(local_stack: Endpoints, env: str) -> None:
    client = local_stack.dynamodb_client()
    repo = Repository(client, env=env, history=True)
    key = make_key("loan", 1)
    # GIVEN a loan created and updated
    repo.create("loan", make_item("loan", 1, status="draft"), actor="ana")
    repo.update("loan", key, {"status": "open"}, actor="ben", expected_version=1)
    # WHEN a stale writer and a duplicate create are refused by the engine
    with pytest.raises(ConflictError) as stale:
        repo.update("loan", key, {"status": "cancelled"}, actor="eve", expected_version=1)
    counting = _CountingReads(client)
    with pytest.raises(ConflictError) as duplicate:
        Repository(counting, env=env, history=True).create("loan", make_item("loan", 1), actor="eve")
    # THEN the conflicts carry the stored version, which the engine handed back in the
    # cancellation reasons (ReturnValuesOnConditionCheckFailure): no extra read was needed
    assert (stale.value.actual, duplicate.value.actual) == (2, 2)
    assert counting.reads == 0
    # AND history and the stream hold exactly the two committed writes
    entries = list(HistoryReader(client, env=env).entries("loan", key))
    assert [(e.version, e.action, e.actor) for e in entries] == [(1, "create", "ana"), (2, "update", "ben")]
    assert entries[1].diff() == {"status": ("draft", "open")}
    assert _stream_events(local_stack, env) == [("INSERT", 1), ("MODIFY", 2)]


def test_an_entry_that_cannot_be_written_cancels_the_change_on_the_engine(local_stack: Endpoints, env: str) -> None:
    client = local_stack.dynamodb_client()
    repo = Repository(client, env=env, history=True)
    key = make_key("loan", 2)
    created = repo.create("loan", make_item("loan", 2, status="draft"), actor="ana")
    # GIVEN the slot of version 2's entry already taken
    client.put_item(
        TableName=HISTORY_TABLE.physical_name(env),
        Item=serialize_item({"PK": f"loan#{key}", "SK": history_sk(created["created_at"], 2)}),
    )
    # WHEN the update runs THEN it fails and nothing of it is stored or streamed
    with pytest.raises(ConflictError):
        repo.update("loan", key, {"status": "open"}, actor="ben")
    assert repo.get("loan", key)["version"] == 1
    assert _stream_events(local_stack, env) == [("INSERT", 1)]


def test_hard_delete_with_history_on_the_engine(local_stack: Endpoints, env: str) -> None:
    client = local_stack.dynamodb_client()
    repo = Repository(client, env=env, history=True)
    key = make_key("loan", 3)
    created = repo.create("loan", make_item("loan", 3), actor="ana")
    with pytest.raises(ConflictError):
        repo.delete("loan", key, actor="eve", expected_version=4)
    removed = repo.delete("loan", key, actor="dee", expected_version=1)
    entries = list(HistoryReader(client, env=env).entries("loan", key))
    assert [(e.version, e.action, e.actor) for e in entries] == [(1, "create", "ana"), (2, "delete", "dee")]
    assert removed == created and "disbursement_account" not in entries[1].before
    assert _stream_events(local_stack, env) == [("INSERT", 1), ("REMOVE", 1)]
