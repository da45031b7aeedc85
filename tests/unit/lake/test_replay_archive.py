"""``auxeira replay --projection archive``: Kinesis replayed into the raw archive through the
archiver's handler; three replays of a window leave the same objects and rows; the lake is
never replayed into itself."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from moto import mock_aws

from auxeira.operations.emit import emit
from auxeira.operations.environment import Environment
from auxeira.operations.replay import ReplayRequest, projections_of, replay
from auxeira.operations.replay_window import Window
from auxeira.runtime import shard_sources
from auxeira.runtime.clients import ClientFactory
from consumers.sinks.archive import ArchiveSink
from infra.tables import create_table_request
from schemas.resources import CHECKPOINTS_TABLE
from tests.unit.lake.lake_data import envelope


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Environment]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setattr(shard_sources, "END_SETTLE_SECONDS", 0.0)
    with mock_aws():
        env = Environment(name="t", clients=ClientFactory(region="us-east-1"), lake_root=str(tmp_path / "lake"))
        env.dynamodb.create_table(**create_table_request(CHECKPOINTS_TABLE, "t"))
        env.kinesis.create_stream(StreamName=env.stream_name, ShardCount=2)
        yield env


def archived(env: Environment) -> dict[str, bytes]:
    return {k: env.objects.get(k) for k in env.objects.list("raw/")}


def window_of(env: Environment, n: int) -> Window:
    start = datetime.now(UTC)
    time.sleep(0.01)
    emit(env, [envelope(n=i, tenant="t1") for i in range(n)])
    time.sleep(0.01)
    return Window(start, datetime.now(UTC))


def test_archive_is_a_projection_to_name_but_not_part_of_all():
    assert projections_of("archive") == ("archive",)
    assert projections_of("cache,archive") == ("cache", "archive")
    assert "archive" not in projections_of("all")


def test_the_environment_builds_the_archivers_sink_and_handler(env):
    assert isinstance(env.sink("archiver"), ArchiveSink) and env.sink("archiver").objects is env.objects
    assert callable(env.handler("archiver"))


def test_a_window_replayed_into_the_archive_three_times_leaves_the_same_objects(env):
    # GIVEN 12 events on the stream and an empty archive
    window = window_of(env, 12)
    # WHEN the window is replayed into the archive
    first = replay(env, ReplayRequest(("archive",), window, source="kinesis"))
    [summary] = first.projections
    assert (first.source, summary.consumer.split(":")[1], summary.read, summary.applied) == (
        "kinesis",
        "archive",
        12,
        12,
    )
    objects = archived(env)
    assert objects and not summary.marked_built
    # AND twice more
    for _ in range(2):
        again = replay(env, ReplayRequest(("archive",), window, source="kinesis")).projections[0]
        assert (again.read, again.applied, again.stale) == (12, 0, 12)
    # THEN the objects and their bytes are those of the first replay
    assert archived(env) == objects
    lines = [line for body in objects.values() for line in gzip.decompress(body).splitlines()]
    assert sorted(orjson.loads(line)["data"]["event_id"] for line in lines) == sorted(
        f"startup-{i}-v1-0" for i in range(12)
    )


def test_the_lake_is_never_replayed_into_itself(env):
    window = window_of(env, 2)
    with pytest.raises(ValueError, match="replay the archive into itself"):
        replay(env, ReplayRequest(("archive",), window, source="lake"))
    with pytest.raises(ValueError, match="replay the archive into itself"):
        replay(env, ReplayRequest(("cache", "archive"), window, source="lake"))
    assert archived(env) == {}
