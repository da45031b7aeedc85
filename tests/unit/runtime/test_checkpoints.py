"""Checkpoints are conditional writes: never backwards, and only by the lease holder."""

from __future__ import annotations

import pytest

from auxeira.runtime.checkpoints import CheckpointConflict, Checkpoints, LeaseLost
from schemas.resources import CHECKPOINTS_TABLE
from tests.moto_tables import moto_dynamodb


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(monkeypatch):
    clock = Clock()
    with moto_dynamodb(monkeypatch, [CHECKPOINTS_TABLE], "t") as client:
        yield Checkpoints(client, CHECKPOINTS_TABLE.physical_name("t"), clock=clock), clock


def test_a_checkpoint_never_moves_backwards_but_an_operator_can_set_it(store):
    checkpoints, _ = store
    checkpoints.save("cache", "s0", "900")
    checkpoints.save("cache", "s0", "1000")  # numeric order, though "900" > "1000" as text
    with pytest.raises(CheckpointConflict, match="never moves backwards"):
        checkpoints.save("cache", "s0", "999")
    assert checkpoints.get("cache", "s0").sequence_number == "1000"
    checkpoints.set("cache", "s0", "5")  # replay from an earlier position, on purpose
    assert checkpoints.get("cache", "s0").sequence_number == "5"


def test_two_competing_runners_one_lease_and_only_its_holder_saves(store):
    checkpoints, clock = store
    assert checkpoints.acquire("cache", "s0", "runner-a", ttl_seconds=30)
    assert not checkpoints.acquire("cache", "s0", "runner-b", ttl_seconds=30)
    checkpoints.save("cache", "s0", "10", owner="runner-a")
    with pytest.raises(LeaseLost, match="runner-a"):
        checkpoints.save("cache", "s0", "20", owner="runner-b")
    # WHEN runner-a dies and its lease runs out, runner-b takes over and a's late save is refused
    clock.now += 31
    assert checkpoints.acquire("cache", "s0", "runner-b", ttl_seconds=30)
    checkpoints.save("cache", "s0", "20", owner="runner-b")
    with pytest.raises(LeaseLost):
        checkpoints.save("cache", "s0", "30", owner="runner-a")
    assert checkpoints.get("cache", "s0").sequence_number == "20"


def test_a_dead_runners_lease_is_taken_over_only_by_one_runner(store):
    checkpoints, _ = store
    checkpoints.acquire("cache", "s0", "dead", ttl_seconds=30)
    assert checkpoints.take_over("cache", "s0", "b", "dead")
    assert not checkpoints.take_over("cache", "s0", "c", "dead")
    assert checkpoints.get("cache", "s0").owner == "b"
