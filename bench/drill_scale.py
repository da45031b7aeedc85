"""How big each drill runs: a test scale for ``make test`` and the larger one of ``bench.drills``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BENCH", "TENANTS", "TEST", "Scale"]

#: The tenants every drill's workload writes to (each drill has an environment of its own).
TENANTS = ("northstar", "civic-fund", "blue-impact")


@dataclass(frozen=True)
class Scale:
    """Attributes:
    kill_events, kills: drill 1's run and how many times its consumers are killed in it.
    kill_window: the longest a consumers' process lives once up (the moment is random below it).
    kill_rate: drill 1's writes per second (None: as fast as the tables take them), so the
        writes outlast the kills (a consumers' process takes seconds to start).
    events: the other drills' workload.
    shards: of the events stream (kinesis-mock slows as a shard fills: several shards).
    outage_seconds: how long Redis is down in drill 2.
    poison_share: drill 3's share of poison records.
    resume_events, resume_share: drill 7's redrive: its workload and share of poison records
        (enough dead letters that a kill lands mid-way).
    replay_rate, backfill_rate: records per second of drill 7's killed replay and backfill,
        slow enough to be killed mid-way.
    """

    kill_events: int
    kills: int
    kill_window: float
    kill_rate: float | None
    events: int
    shards: int
    outage_seconds: float
    poison_share: float
    resume_events: int
    resume_share: float
    replay_rate: int
    backfill_rate: int


TEST = Scale(
    kill_events=300, kills=3, kill_window=1.0, kill_rate=15.0, events=300, shards=2, outage_seconds=4.0, poison_share=0.01,
    resume_events=150, resume_share=0.5, replay_rate=40, backfill_rate=40,
)  # fmt: skip
BENCH = Scale(
    kill_events=20_000, kills=12, kill_window=12.0, kill_rate=None, events=3_000, shards=4, outage_seconds=10.0, poison_share=0.01,
    resume_events=1_000, resume_share=0.2, replay_rate=300, backfill_rate=200,
)  # fmt: skip
