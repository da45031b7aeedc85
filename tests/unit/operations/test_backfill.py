"""``backfill`` on moto: one snapshot per item by the router's rules, refused items reported and not
emitted, progress per segment that survives a kill, a finished backfill that starts over, a plan
counted with Select=COUNT that writes nothing, and the table names operators type."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from moto import mock_aws

from auxeira.operations.backfill import backfill, tables_of
from auxeira.operations.backfill_plan import plan_backfill
from auxeira.operations.backfill_progress import SegmentLedger
from auxeira.operations.emit import EmitResult
from auxeira.operations.environment import Environment
from auxeira.runtime.clients import ClientFactory
from auxeira.runtime.mapping_runner import runner_name
from infra.tables import create_table_request
from schemas import catalog
from schemas.envelope import Envelope, order_of
from schemas.resources import CHECKPOINTS_TABLE
from tests.factories import make_image
from tests.moto_tables import serialized

STARTUPS = catalog.table("startups")


class Killed(BaseException):
    """The process dying: not an Exception, so nothing on the way catches it."""


class Stream:
    """Stands in for :func:`emit`: keeps what was put (from every segment thread), may die on the n-th put."""

    def __init__(self, die_on: int | None = None, refuse: set[str] | None = None):
        self.envelopes: list[Envelope] = []
        self.calls = 0
        self.die_on, self.refuse = die_on, refuse or set()
        self._lock = threading.Lock()

    def __call__(self, env: Environment, envelopes: Sequence[Envelope]) -> EmitResult:
        with self._lock:
            self.calls += 1
            if self.die_on is not None and self.calls >= self.die_on:
                raise Killed()
            put = [e for e in envelopes if e.key not in self.refuse]
            self.envelopes += put
            return EmitResult(
                len(put),
                [(e.event_id, "ProvisionedThroughputExceeded: slow down") for e in envelopes if e.key in self.refuse],
            )

    @property
    def keys(self) -> list[str]:
        return sorted(e.key for e in self.envelopes)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Environment]:
    """An environment on moto with the checkpoint table and 40 startups (calls serialized: moto is not thread-safe)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        env = Environment(name="t", clients=ClientFactory(region="us-east-1"), lake_root=str(tmp_path / "lake"))
        client = env.dynamodb
        env.__dict__["dynamodb"] = serialized(client)
        client.create_table(**create_table_request(CHECKPOINTS_TABLE, "t"))
        client.create_table(**create_table_request(STARTUPS, "t"))
        for n in range(40):
            client.put_item(TableName=env.table_name(STARTUPS), Item=make_image("startup", n, version=1 + n % 3))
        yield env


def all_keys() -> list[str]:
    return sorted(f"STARTUP#s{n}|PROFILE" for n in range(40))


def test_every_item_becomes_one_snapshot_ordered_below_every_streamed_change_of_its_version(env):
    stream = Stream()
    result = backfill(env, (STARTUPS,), segments=4, emitter=stream, page_size=7)
    assert stream.keys == all_keys()
    assert {e.event_type for e in stream.envelopes} == {"startup.snapshot"}
    # (version, 0): the snapshot of version v loses to the streamed change of v (sequence > 0)
    assert all(e.order == order_of(e.version, None) for e in stream.envelopes)
    assert all("tax_id" not in e.after["company_details"] for e in stream.envelopes)
    [table] = result.tables
    assert (table.scanned, table.emitted, table.refused, table.finished) == (40, 40, 0, True)
    assert not result.problem


def test_items_the_router_would_refuse_are_counted_with_their_reasons_and_not_emitted(env):
    # GIVEN two items no tenant owns (a foreign writer's)
    for n in (100, 101):
        item = make_image("startup", n)
        del item["tenant_id"]
        env.dynamodb.put_item(TableName=env.table_name(STARTUPS), Item=item)
    stream = Stream()
    result = backfill(env, (STARTUPS,), segments=2, emitter=stream)
    # THEN they are reported with their keys and reasons, the 40 others are emitted
    [table] = result.tables
    assert table.refused == 2 and stream.keys == all_keys()
    assert sorted(key for key, _ in table.refusals) == ["PK=STARTUP#s100 SK=PROFILE", "PK=STARTUP#s101 SK=PROFILE"]
    assert all("tenant" in reason for _, reason in table.refusals)
    assert result.problem


def test_a_backfill_killed_mid_way_resumes_each_segment_where_it_saved(env):
    # GIVEN a backfill that dies on its fifth put (pages of 3 items, 4 segments)
    first = Stream(die_on=5)
    with pytest.raises(Killed):
        backfill(env, (STARTUPS,), segments=4, emitter=first, page_size=3)
    assert 0 < len(first.envelopes) < 40
    # WHEN the same command is run again
    second = Stream()
    result = backfill(env, (STARTUPS,), segments=4, emitter=second, page_size=3)
    # THEN every item was emitted, and only pages in flight at the kill (none was saved) twice
    [table] = result.tables
    assert sorted(set(first.keys) | set(second.keys)) == all_keys()
    assert len(second.envelopes) == 40 - len(first.envelopes)
    assert table.resumed_segments > 0 and table.finished and table.emitted_total == 40


def test_a_page_that_could_not_be_put_is_not_saved_so_the_rerun_emits_it_again(env):
    refused = Stream(refuse={"STARTUP#s3|PROFILE"})
    failed = backfill(env, (STARTUPS,), segments=1, emitter=refused, page_size=50)
    [table] = failed.tables
    assert table.not_put == 1 and failed.problem and not table.finished
    again = Stream()
    backfill(env, (STARTUPS,), segments=1, emitter=again)
    assert again.keys == all_keys()


def test_a_finished_backfill_starts_over_and_emits_the_same_events(env):
    first, second = Stream(), Stream()
    backfill(env, (STARTUPS,), segments=3, emitter=first)
    result = backfill(env, (STARTUPS,), segments=3, emitter=second)
    assert result.tables[0].restarted
    # Same event ids: the consumers recognise the second backfill as a duplicate
    assert sorted(e.event_id for e in first.envelopes) == sorted(e.event_id for e in second.envelopes)


def test_a_rerun_of_a_killed_backfill_of_several_tables_skips_the_tables_it_finished(env):
    users = catalog.table("users")
    env.dynamodb.create_table(**create_table_request(users, "t"))
    for n in range(6):
        env.dynamodb.put_item(TableName=env.table_name(users), Item=make_image("user", n))
    # GIVEN a backfill of startups then users, killed while on users (startups finished: 40 puts of 1 item)
    first = Stream(die_on=42)
    with pytest.raises(Killed):
        backfill(env, (STARTUPS, users), segments=1, emitter=first, page_size=1)
    assert [k for k in first.keys if k.startswith("STARTUP#")] == all_keys()  # startups done before the kill
    # THEN the dry run and the rerun resume: startups is not scanned nor emitted again
    plan = {t["table"]: t for t in plan_backfill(env, (STARTUPS, users), segments=1)["tables"]}
    assert not plan["auxeira-startups-t"]["restart"] and plan["auxeira-startups-t"]["items"] == 0
    second = Stream()
    result = backfill(env, (STARTUPS, users), segments=1, emitter=second, page_size=1)
    assert not any(k.startswith("STARTUP#") for k in second.keys)
    assert all(t.finished and not t.restarted for t in result.tables)
    # AND once the whole run finished, the next one starts over with every table
    third = Stream()
    again = backfill(env, (STARTUPS, users), segments=1, emitter=third)
    assert all(t.restarted for t in again.tables) and len(third.envelopes) == 46


def test_an_unfinished_backfill_must_be_resumed_with_its_own_segment_count(env):
    with pytest.raises(Killed):
        backfill(env, (STARTUPS,), segments=4, emitter=Stream(die_on=2), page_size=3)
    with pytest.raises(ValueError, match="--segments 4"):
        backfill(env, (STARTUPS,), segments=8, emitter=Stream())


def test_a_segment_another_live_backfill_holds_is_left_to_it_and_reported(env):
    ledger = SegmentLedger(env.checkpoints(), env.table_name(STARTUPS))
    assert ledger.claim(1, 2, "another-host:1:abc", 30.0)
    stream = Stream()
    result = backfill(env, (STARTUPS,), segments=2, emitter=stream)
    assert result.tables[0].busy_segments == [1] and result.problem
    assert 0 < len(stream.envelopes) < 40


def test_a_killed_runner_of_this_machine_has_its_segments_taken_over_at_once(env):
    ledger = SegmentLedger(env.checkpoints(), env.table_name(STARTUPS))
    dead = runner_name().replace(f":{os.getpid()}:", ":999999999:")
    assert ledger.claim(0, 1, dead, 30.0)
    stream = Stream()
    backfill(env, (STARTUPS,), segments=1, emitter=stream)
    assert stream.keys == all_keys()


def test_the_dry_run_counts_items_per_segment_and_writes_nothing(env):
    found = plan_backfill(env, (STARTUPS,), segments=4)
    [table] = found["tables"]
    assert table["table"] == "auxeira-startups-t" and table["items"] == 40 and found["items"] == 40
    assert [s["start"] for s in table["per_segment"]] == ["from the start"] * 4
    assert env.dynamodb.scan(TableName=env.checkpoint_table)["Items"] == []


def test_the_dry_run_of_an_unfinished_backfill_counts_what_is_left(env):
    with pytest.raises(Killed):
        backfill(env, (STARTUPS,), segments=1, emitter=Stream(die_on=3), page_size=10)
    [table] = plan_backfill(env, (STARTUPS,), segments=1)["tables"]
    assert table["items"] == 20 and table["per_segment"][0]["start"].startswith("after PK=STARTUP#")


def test_tables_are_named_logically_physically_or_all():
    env: Any = Environment(name="prod", clients=ClientFactory(region="us-east-1"), lake_root="lake")
    assert tables_of(env, "startups") == (STARTUPS,)
    assert tables_of(env, "auxeira-startups-prod") == (STARTUPS,)
    assert tables_of(env, "all") == catalog.TABLES
    assert [t.name for t in tables_of(env, "ai-assistant-users-prod")] == ["users"]
    with pytest.raises(ValueError, match=r"ambiguous.*auxeira-users-prod or ai-assistant-users-prod"):
        tables_of(env, "users")
    with pytest.raises(ValueError, match="no table 'startup'"):
        tables_of(env, "startup")
