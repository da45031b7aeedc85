"""The local emulator stack starts real DynamoDB Local, kinesis-mock and Redis, and stops only them.

One stack serves the whole module (start-up is ~1.5 s, mostly the JVM); the
last test of the stack group brings it down and checks nothing is left.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path

import pytest

from infra.local import LocalStack, LocalStackSettings, PortInUseError
from infra.local.processes import free_port, is_running, read_record

pytestmark = pytest.mark.integration

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"


def _settings(state_dir: Path, **overrides: object) -> LocalStackSettings:
    # Every field passed explicitly, so AUXEIRA_* or REDIS_URL in the
    # environment cannot point the test at someone else's services.
    values: dict[str, object] = {
        "state_dir": state_dir,
        "dynamodb_port": free_port(),
        "kinesis_port": free_port(),
        "redis_url": None,
        "redis_port": 0,
        "node_modules": NODE_MODULES,
    }
    return LocalStackSettings(**{**values, **overrides})


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _pids_running(*argv: str) -> list[int]:
    """PIDs of live processes whose command line contains ``argv`` in a row."""
    needle = b"\0".join(a.encode() for a in argv)
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and needle in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue  # exited while we looked
    return [pid for pid in found if _alive(pid) and pid != os.getpid()]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    stack = LocalStack(_settings(tmp_path_factory.mktemp("stack")))
    stack.up()
    yield stack
    stack.down()  # a no-op when the down test has already run


def test_dynamodb_local_serves_tables_with_streams(stack: LocalStack) -> None:
    # GIVEN the stack is up
    endpoints = stack.endpoints()
    assert endpoints is not None
    ddb = endpoints.dynamodb_client()
    # WHEN a table with a NEW_AND_OLD_IMAGES stream is created and written
    ddb.create_table(
        TableName="orders",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.put_item(TableName="orders", Item={"pk": {"S": "o-1"}})
    # THEN list_tables sees it and its stream carries the INSERT
    assert "orders" in ddb.list_tables()["TableNames"]
    stream_arn = ddb.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
    streams = endpoints.dynamodbstreams_client()
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT"]


def test_kinesis_mock_round_trips_a_record(stack: LocalStack) -> None:
    # GIVEN a fresh stream (unique name: kinesis-mock races on reused names)
    kinesis = stack.endpoints().kinesis_client()  # type: ignore[union-attr]
    name = f"test-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    # WHEN a record is put
    put = kinesis.put_record(StreamName=name, Data=b'{"id": 1}', PartitionKey="1")
    # THEN it is read back from TRIM_HORIZON
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=put["ShardId"], ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [(r["Data"], r["SequenceNumber"]) for r in records] == [(b'{"id": 1}', put["SequenceNumber"])]


def test_redis_answers(stack: LocalStack) -> None:
    client = stack.endpoints().redis()  # type: ignore[union-attr]
    client.set("k", "v")
    assert client.get("k") == b"v"


def test_status_and_a_second_up_reuse_the_running_services(stack: LocalStack) -> None:
    # GIVEN the running stack and a second handle on the same state_dir (as another process would)
    before = stack.status()
    other = LocalStack(stack.settings)
    # WHEN up() is called again
    endpoints = other.up()
    # THEN nothing new was started and both handles agree on the endpoints
    assert all(s.running and s.managed for s in before.values())
    assert {n: s.pid for n, s in other.status().items()} == {n: s.pid for n, s in before.items()}
    assert endpoints == stack.endpoints()
    other.wait_until_ready(timeout=5)


def test_down_stops_everything_and_a_second_down_is_a_no_op(stack: LocalStack) -> None:
    # GIVEN the PIDs of the three running services
    pids = {name: s.pid for name, s in stack.status().items()}
    assert all(pid is not None and _alive(pid) for pid in pids.values())
    # WHEN the stack is brought down twice
    first, second = stack.down(), stack.down()
    # THEN all three processes are gone, their records too, and the second call did nothing
    assert sorted(first) == ["dynamodb", "kinesis", "redis"]
    assert second == []
    assert not [name for name, pid in pids.items() if _alive(pid)]  # type: ignore[arg-type]
    assert not any((stack.state_dir / "pids").glob("*.json"))
    assert stack.endpoints() is None
    assert not any(s.running for s in stack.status().values())


@pytest.mark.parametrize("mismatch", ["cmdline", "start_ticks"])
def test_down_never_kills_a_process_that_reused_a_recorded_pid(tmp_path: Path, mismatch: str) -> None:
    # GIVEN a pid file naming this very pytest process, with either another
    # command line or another start time than the process really has
    own_cmdline = Path("/proc/self/cmdline").read_bytes().split(b"\0")[:-1]
    record = {
        "name": "redis",
        "pid": os.getpid(),
        "port": 1,
        "log_path": str(tmp_path / "x.log"),
        "cmdline": ["/usr/bin/redis-server", "--port", "1"]
        if mismatch == "cmdline"
        else [part.decode() for part in own_cmdline],
        "start_ticks": None if mismatch == "cmdline" else 1,
        "extra": {},
    }
    (tmp_path / "pids").mkdir()
    (tmp_path / "pids" / "redis.json").write_text(json.dumps(record))
    assert not is_running(read_record(tmp_path, "redis"))  # type: ignore[arg-type]
    # WHEN the stack is brought down
    stopped = LocalStack(_settings(tmp_path)).down()
    # THEN nothing was signalled (we are still here) and the stale record is gone
    assert stopped == []
    assert _alive(os.getpid())
    assert not (tmp_path / "pids" / "redis.json").exists()


def test_a_port_held_by_a_stranger_is_named_and_nothing_is_left_running(tmp_path: Path) -> None:
    # GIVEN another process already listens on the kinesis port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = _settings(tmp_path, kinesis_port=port)
        stack = LocalStack(settings)
        # WHEN the stack is started
        with pytest.raises(PortInUseError) as caught:
            stack.up()
    # THEN the error names the port and the setting, and DynamoDB Local
    # (started before kinesis was refused) has been stopped again
    assert str(port) in str(caught.value)
    assert "AUXEIRA_KINESIS_PORT" in str(caught.value)
    assert read_record(tmp_path, "dynamodb") is None
    assert _pids_running("-port", str(settings.dynamodb_port)) == []


def test_a_restarted_stack_keeps_redis_port_and_starts_empty(tmp_path: Path) -> None:
    # GIVEN a stack with a table, a stream record and an embedded search index
    stack = LocalStack(_settings(tmp_path / "restart"))
    first = stack.up()
    try:
        first.dynamodb_client().create_table(
            TableName="keep-or-not",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        first.kinesis_client().create_stream(StreamName="keep-or-not", ShardCount=1)
        stack.search_path("local").parent.mkdir(parents=True)
        stack.search_path("local").write_bytes(b"index")
        # WHEN it goes down and up again
        stack.down()
        second = stack.up()
        # THEN Redis answers where running consumers already connect
        assert second.redis_url == first.redis_url
        # AND nothing of the old state is back: no table, no stream, no index (all or nothing)
        assert "keep-or-not" not in second.dynamodb_client().list_tables()["TableNames"]
        assert "keep-or-not" not in second.kinesis_client().list_streams()["StreamNames"]
        assert not stack.search_path("local").exists()
    finally:
        stack.down()
