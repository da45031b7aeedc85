"""The erasure records' hash chain and the ledger: appended in order, idempotent per request, and any
change, removal or reordering of a record is found (also through ``auxeira erase --verify-ledger``)."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from auxeira.cli.main import app
from auxeira.operations.erase_ledger import (
    GENESIS,
    RECORDS,
    append_record,
    read_ledger,
    read_records,
    record_hash,
    verify_chain,
    write_ledger,
)
from auxeira.runtime.objects import LocalObjects


class Leases:
    """The checkpoints table's lease calls, in memory: one holder at a time."""

    def __init__(self) -> None:
        self.holder: str | None = None

    def acquire(self, consumer: str, shard: str, owner: str, ttl_seconds: float = 30.0) -> bool:
        if self.holder not in (None, owner):
            return False
        self.holder = owner
        return True

    def release(self, consumer: str, shard: str, owner: str) -> None:
        if self.holder == owner:
            self.holder = None


@pytest.fixture
def lake(tmp_path) -> LocalObjects:
    return LocalObjects(tmp_path / "lake")


def three_records(lake: LocalObjects) -> None:
    for n in range(3):
        append_record(lake, Leases(), {"request_id": f"r{n}", "subject": f"h{n}", "requested_by": "dpo"}, owner="me")


def test_records_chain_in_order_and_the_chain_verifies(lake):
    three_records(lake)
    records = read_records(lake)
    assert [r["sequence"] for _, r in records] == [1, 2, 3]
    assert records[0][1]["previous"] == GENESIS
    assert records[1][1]["previous"] == records[0][1]["hash"]
    assert records[2][1]["hash"] == record_hash(records[1][1]["hash"], records[2][1])
    assert verify_chain(records) == []


def test_a_record_is_appended_once_per_request(lake):
    three_records(lake)
    _key, record = append_record(lake, Leases(), {"request_id": "r1", "subject": "h1"}, owner="me")
    assert record["sequence"] == 2 and len(read_records(lake)) == 3


def test_a_changed_record_breaks_the_chain(lake):
    three_records(lake)
    key = f"{RECORDS}00000002.json"
    record = orjson.loads(lake.get(key))
    record["requested_by"] = "someone else"
    lake.put(key, orjson.dumps(record))
    problems = verify_chain(read_records(lake))
    assert [p.key for p in problems] == [key] and "changed" in problems[0].reason


def test_a_rehashed_record_still_breaks_the_link_to_the_next(lake):
    # GIVEN a record changed and its own hash recomputed (someone covering their tracks)
    three_records(lake)
    key = f"{RECORDS}00000002.json"
    record = orjson.loads(lake.get(key))
    record["subject"] = "another subject"
    record["hash"] = record_hash(record["previous"], record)
    lake.put(key, orjson.dumps(record))
    # THEN the next record no longer names it
    problems = verify_chain(read_records(lake))
    assert [p.key for p in problems] == [f"{RECORDS}00000003.json"]


def test_a_removed_record_breaks_the_chain(lake):
    three_records(lake)
    lake.delete(f"{RECORDS}00000002.json")
    reasons = [p.reason for p in verify_chain(read_records(lake))]
    assert any("sequence 3" in r for r in reasons) and any("previous" in r for r in reasons)


def test_the_ledger_keeps_the_union_of_an_erasure_run_twice(lake):
    write_ledger(lake, "h1", ["i1"], ["p1"], "r1")
    write_ledger(lake, "h1", ["i2"], [], "r2")
    [entry] = read_ledger(lake)
    assert entry.items == {"i1", "i2"} and entry.pii == {"p1"} and entry.request_ids == ["r1", "r2"]


def test_verify_ledger_on_the_command_line(lake, monkeypatch):
    monkeypatch.setenv("AUXEIRA_LAKE_ROOT", lake.root)
    monkeypatch.setenv("AUXEIRA_ENV", "prod")
    monkeypatch.setenv("AUXEIRA_REGION", "eu-west-1")
    three_records(lake)
    runner = CliRunner()
    ok = runner.invoke(app, ["--json", "erase", "--verify-ledger"])
    assert ok.exit_code == 0 and orjson.loads(ok.stdout)["records"] == 3
    lake.delete(f"{RECORDS}00000001.json")
    broken = runner.invoke(app, ["--json", "erase", "--verify-ledger"])
    assert broken.exit_code == 1 and orjson.loads(broken.stdout)["ledger"] == "broken"
    # a subject that is not a user is the user's mistake: one line, exit 2
    bad = runner.invoke(app, ["erase", "--subject", "STARTUP#s1", "--dry-run"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
