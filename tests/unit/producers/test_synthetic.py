"""The synthetic workload generator: trends, consistent startups, determinism, validation
through the repository (moto), per-item outcomes, and the rate limiter on a fake clock."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from infra.tables import create_table_request
from producers.publisher import Publisher
from producers.repository import AUDIT_FIELDS, Repository
from producers.synthetic import dashboards, trends
from producers.synthetic.config import DASHBOARD_USER_TYPES, TRENDS, SyntheticDataConfig, WorkloadConfig
from producers.synthetic.engagement import build_engagement
from producers.synthetic.loans import build_loan
from producers.synthetic.ops import Create, Publish, Update
from producers.synthetic.plan import phases
from producers.synthetic.ratelimit import TokenBucket, parse_rate
from producers.synthetic.startups import STAGES, build_startup, stage_of_history
from producers.synthetic.tenants import build_tenant
from producers.synthetic.workload import run_workload
from schemas import catalog
from schemas.entities.auxeira import USER_TYPES
from schemas.wire.dynamodb import deserialize_item
from tests.moto_tables import serialized

AS_OF = date(2026, 3, 1)
FIXED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEEDS = range(40)
#: tenants=1, startups=6, days=21, seed=7 exercises every kind of op the generator makes.
SMALL = WorkloadConfig(tenants=1, startups=6, days=21, seed=7, as_of=AS_OF)
ALL_OPS = {
    *(
        ("Create", e)
        for e in (
            "user",
            "partner",
            "event",
            "catalog_activity",
            "startup",
            "user_startup",
            "startup_metric",
            "activity",
            "document",
            "chatbot_conversation",
            "chatbot_message",
            "event_registration",
            "partner_activation",
            "investor_match",
            "loan",
            "loan_participant",
        )
    ),
    ("Update", "startup"),
    ("Update", "loan"),
    ("Update", "loan_participant"),
    ("Publish", "dashboard_metric"),
}


class FakeClock:
    """Monotonic seconds that only move when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for env in ("one", "two"):
            for table in catalog.TABLES:
                client.create_table(**create_table_request(table, env))
        yield client


def _repo(client: Any, env: str) -> Repository:
    return Repository(client, env=env, clock=lambda: FIXED)


def _scan(client: Any, env: str) -> dict[str, dict[str, Any]]:
    """Every item of every table of ``env``: ``table|PK|SK`` -> item without audit times."""
    out = {}
    for table in catalog.TABLES:
        name = table.physical_name(env)
        for page in client.get_paginator("scan").paginate(TableName=name):
            for raw in page["Items"]:
                item = deserialize_item(raw)
                out[f"{table.name}|{table.key_of(item)}"] = {
                    k: v for k, v in item.items() if k not in ("created_at", "updated_at")
                }
    return out


def _slope(values: list[float], days: list[int]) -> float:
    """Least-squares slope of log(value) per day."""
    logs = [math.log(v) for v in values]
    return statistics.linear_regression(days, logs).slope


def _all_ops(config: WorkloadConfig, via: str = "repository") -> list[Any]:
    return [op for phase in phases(config, via) for unit in phase for op in unit.build()]


# -- trends --------------------------------------------------------------------------


@pytest.mark.parametrize(("trend", "sign"), [("improving", 1), ("declining", -1)])
@pytest.mark.parametrize("direction", [1, -1])
def test_trend_moves_the_series_its_way_for_every_seed(trend: str, sign: int, direction: int) -> None:
    # GIVEN 60 daily points at the seed's default variance
    days = trends.offsets(61, 60)
    for seed in SEEDS:
        # WHEN a series follows the trend (direction -1: lower is better, e.g. burn rate)
        values = trends.series(random.Random(seed), days, start=1000.0, trend=trend, variance=0.2, direction=direction)
        # THEN its fitted slope has the trend's sign, flipped for lower-is-better metrics
        assert _slope(values, days) * sign * direction > 0, (trend, seed)


def test_stable_has_no_drift_on_average() -> None:
    days = trends.offsets(61, 60)
    slopes = [
        _slope(trends.series(random.Random(s), days, start=50.0, trend="stable", variance=0.2), days) for s in SEEDS
    ]
    improving = trends.DRIFT_PER_30_DAYS["improving"] / 30
    assert abs(statistics.mean(slopes)) < improving / 4


def test_volatile_swings_more_than_stable_for_every_seed() -> None:
    days = trends.offsets(61, 60)
    for seed in SEEDS:
        # GIVEN the same RNG state and variance knob
        stable = trends.series(random.Random(seed), days, start=100.0, trend="stable", variance=0.2)
        volatile = trends.series(random.Random(seed), days, start=100.0, trend="volatile", variance=0.2)
        # THEN the volatile series' day-to-day log changes spread wider
        spread = [statistics.pstdev(math.log(b / a) for a, b in itertools.pairwise(s)) for s in (stable, volatile)]
        assert spread[1] > 2 * spread[0], seed


def test_variance_knob_widens_the_noise() -> None:
    assert trends.noise_sigma("stable", 0.0) < trends.noise_sigma("stable", 0.5) < trends.noise_sigma("stable", 1.0)


def test_offsets_are_distinct_whole_days_ending_on_the_last_day() -> None:
    for count, span in [(9, 60), (61, 60), (2, 1), (31, 30), (7, 10)]:
        points = trends.offsets(count, span)
        assert len(points) == count and len(set(points)) == count
        assert points[0] == 0 and points[-1] == span and points == sorted(points)
    assert trends.offsets(1, 30) == [30]


def test_integer_series_stays_within_bounds() -> None:
    days = trends.offsets(61, 60)
    for seed in SEEDS:
        values = trends.integer_series(
            random.Random(seed), days, start=97, trend="volatile", variance=1.0, scale=50.0, lower=0, upper=100
        )
        assert all(isinstance(v, int) and 0 <= v <= 100 for v in values)


def test_same_rng_state_gives_the_same_series() -> None:
    days = trends.offsets(30, 29)
    one = trends.series(random.Random(3), days, start=10.0, trend="volatile", variance=0.5)
    assert one == trends.series(random.Random(3), days, start=10.0, trend="volatile", variance=0.5)
    assert one != trends.series(random.Random(4), days, start=10.0, trend="volatile", variance=0.5)


# -- config --------------------------------------------------------------------------


def test_config_names_the_seven_dashboards_as_entity_user_types() -> None:
    assert set(DASHBOARD_USER_TYPES) == set(USER_TYPES) - {"admin"}
    assert set(TRENDS) == {"improving", "declining", "stable", "volatile"}
    assert set(dashboards.METRICS) == set(DASHBOARD_USER_TYPES)


@pytest.mark.parametrize(
    "bad", [{"trend": "sideways"}, {"variance": 1.5}, {"user_type": "admin"}, {"count": 0}, {"data_type": "profiles"}]
)
def test_config_rejects_invalid_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SyntheticDataConfig(**bad)


def test_workload_rejects_more_points_than_days() -> None:
    # metric items are keyed by date: two points on one day would be one item
    with pytest.raises(ValidationError, match="points"):
        WorkloadConfig(days=5, points=7, as_of=AS_OF)
    assert WorkloadConfig(days=60, as_of=AS_OF).point_count == 9  # weekly plus the last day


# -- dashboards ----------------------------------------------------------------------


@pytest.mark.parametrize("user_type", DASHBOARD_USER_TYPES)
def test_dashboard_has_every_metric_at_every_point_up_to_as_of(user_type: str) -> None:
    config = SyntheticDataConfig(user_type=user_type, count=5, time_range_days=28, seed=1)
    points = dashboards.generate_dashboard(config, tenant_id="t", subject_id="u", as_of=AS_OF)
    names = [spec.name for spec in dashboards.METRICS[user_type]]
    assert len(points) == 5 * len(names)
    assert {(p.recorded_at.date(), p.metric) for p in points} == {
        (d, n) for d in dashboards.point_dates(config, AS_OF) for n in names
    }
    assert max(p.recorded_at for p in points).date() == AS_OF
    assert all(p.user_type == user_type and p.recorded_at.tzinfo is not None for p in points)


def test_improving_founder_dashboard_grows_revenue_and_cuts_burn() -> None:
    for seed in SEEDS:
        config = SyntheticDataConfig(count=31, time_range_days=60, trend="improving", seed=seed)
        points = dashboards.generate_dashboard(config, tenant_id="t", subject_id="u", as_of=AS_OF)
        series = {m: [p.value for p in points if p.metric == m] for m in ("revenue", "burn_rate")}
        days = trends.offsets(31, 60)
        assert _slope(series["revenue"], days) > 0 > _slope(series["burn_rate"], days), seed


def test_founder_view_reads_the_dashboard_off_a_metric_item() -> None:
    startup = build_startup(SyntheticDataConfig(count=3, time_range_days=14, seed=2), tenant_id="t", as_of=AS_OF)
    view = {p.metric: p.value for p in dashboards.founder_view(startup.metrics[-1], subject_id="u")}
    last = startup.metrics[-1]
    assert view == {
        "sse_score": last["sse_score"],
        "revenue": last["mrr"],
        "customers": last["total_customers"],
        "team_size": last["team_size"],
        "burn_rate": last["burn_rate"],
    }


# -- startups ------------------------------------------------------------------------


def _startups() -> Iterator[Any]:
    for seed in SEEDS:
        for trend in TRENDS:
            config = SyntheticDataConfig(count=9, time_range_days=60, trend=trend, seed=seed * 7 + 1)
            yield build_startup(config, tenant_id="t", as_of=AS_OF)


def test_every_metric_point_keeps_the_financial_invariants() -> None:
    for startup in _startups():
        previous_cash = math.inf
        for m in startup.metrics:
            assert m["arr"] == 12 * m["mrr"]
            assert m["burn_rate"] > 0 and abs(m["runway_months"] - m["cash_balance"] / m["burn_rate"]) <= 0.05 + 1e-9
            assert 0 <= m["cash_balance"] <= previous_cash  # burn only draws cash down
            assert 0 < m["churn_rate"] < 1 and m["ltv"] > 0 and m["cac"] > 0
            assert 0 <= m["sse_score"] <= 100 and m["team_size"] >= 1 and m["total_customers"] >= 1
            previous_cash = m["cash_balance"]


def test_profile_agrees_with_its_first_and_last_points() -> None:
    for startup in _startups():
        for snapshot, point in ((startup.profile, startup.metrics[0]), (startup.latest, startup.metrics[-1])):
            fm = snapshot["financial_metrics"]
            assert (fm["mrr"], fm["arr"], fm["cash_balance"], fm["monthly_burn_rate"], fm["runway_months"]) == (
                point["mrr"],
                point["arr"],
                point["cash_balance"],
                point["burn_rate"],
                point["runway_months"],
            )
            assert fm["ltv_cac_ratio"] == round(fm["ltv"] / fm["cac"], 2)
            assert snapshot["sse_score"] == point["sse_score"]
            assert snapshot["team_operations"]["total_employees"] == point["team_size"]


def test_stage_matches_the_funding_history() -> None:
    stages = set()
    for startup in _startups():
        profile = startup.profile
        history = profile["funding_investors"]["funding_history"]
        fm = profile["financial_metrics"]
        # THEN the stage is the last round (Idea: none), rounds are in order, all before the series
        assert stage_of_history(history) == profile["stage"]
        assert fm["total_funding_raised"] == sum(r["amount"] for r in history)
        assert all(r["date"] < startup.metrics[0]["date"] for r in history)
        if history:
            assert (fm["last_funding_round"], fm["last_funding_date"]) == (history[-1]["round"], history[-1]["date"])
            assert profile["company_details"]["founded_date"] < history[0]["date"]
        else:
            assert "last_funding_round" not in fm
        stages.add(profile["stage"])
    assert stages >= set(STAGES) - {"Growth"}  # the mix covers the stages (Growth is 1 in 100)


def test_stage_of_history_rejects_rounds_out_of_order() -> None:
    with pytest.raises(ValueError, match="out of order"):
        stage_of_history([{"round": "Seed", "date": "2024-01-01"}, {"round": "Pre-Seed", "date": "2025-01-01"}])
    assert stage_of_history([]) == "Idea"


def test_improving_startups_grow_mrr_and_declining_ones_shrink() -> None:
    for seed in SEEDS:
        for trend, sign in (("improving", 1), ("declining", -1)):
            config = SyntheticDataConfig(count=9, time_range_days=60, trend=trend, seed=seed)
            metrics = build_startup(config, tenant_id="t", as_of=AS_OF).metrics
            assert (metrics[-1]["mrr"] - metrics[0]["mrr"]) * sign > 0, (trend, seed)


# -- engagement and loans ------------------------------------------------------------


def test_tokens_never_go_negative_and_activities_match_the_series() -> None:
    tenant = build_tenant(1, 0, as_of=AS_OF, days=60)
    for seed in SEEDS:
        startup = build_startup(
            SyntheticDataConfig(count=9, time_range_days=60, seed=seed), tenant_id=tenant.tenant_id, as_of=AS_OF
        )
        use = build_engagement(random.Random(seed), tenant, startup, as_of=AS_OF)
        assert [c.at for c in use.creates] == sorted(c.at for c in use.creates)
        balance = 0
        mrr_by_date = {m["date"]: m["mrr"] for m in startup.metrics}
        for create in use.creates:
            values = create.values
            balance += values.get("aux_tokens_earned", 0) + values.get("aux_tokens_awarded", 0)
            balance -= values.get("aux_tokens_spent", 0)
            assert balance >= 0, seed
            if values.get("activity_type") == "metric_update":
                assert values["activity_value"] == mrr_by_date[create.at.date().isoformat()]
        assert use.tokens_earned - use.tokens_spent == balance


def test_loans_are_funded_exactly_when_acceptances_reach_the_amount() -> None:
    tenant = build_tenant(1, 0, as_of=AS_OF, days=60)
    seen = {"funded": 0, "open": 0}
    for seed in range(300):
        startup = {"startup_id": "s", "company_name": "Acme", "stage": "Seed"}
        ops = build_loan(
            random.Random(seed),
            tenant_id="t",
            startup=startup,
            borrower_id="u",
            lenders=tenant.investors(),
            opened_at=FIXED,
            end=FIXED.replace(month=5),
        )
        if not ops:
            continue
        amount = int(ops[0].values["amount"])
        shares = {
            op.values["participant_id"]: int(op.values["contribution_amount"])
            for op in ops
            if isinstance(op, Create) and op.entity == "loan_participant"
        }
        accepted = [op for op in ops if isinstance(op, Update) and op.changes.get("status") == "accepted"]
        total = sum(shares[op.key["participant_id"]] for op in accepted)
        funded = any(isinstance(op, Update) and op.entity == "loan" for op in ops)
        assert total <= amount and funded == (total >= amount)
        assert all(op.changes["lender_id"] and op.changes["responded_at"] for op in accepted)
        seen["funded" if funded else "open"] += 1
    assert seen["funded"] and seen["open"]


# -- determinism and validation through the repository ---------------------------------


def test_same_seed_builds_the_same_ops_and_another_seed_does_not() -> None:
    assert _all_ops(SMALL) == _all_ops(SMALL)
    other = _all_ops(SMALL.model_copy(update={"seed": 8}))
    assert [op.values.get("startup_id") for op in other if isinstance(op, Create)] != [
        op.values.get("startup_id") for op in _all_ops(SMALL) if isinstance(op, Create)
    ]


def test_same_seed_writes_identical_items_into_two_tables(ddb: Any) -> None:
    # WHEN the same workload runs twice, into two environments, on several threads
    for env in ("one", "two"):
        summary = run_workload(phases(SMALL), repository=lambda env=env: _repo(serialized(ddb), env), threads=3)
        assert summary["summary"]["failed"] == 0
    # THEN the tables hold the same items, audit fields included (the clock is injected)
    one, two = _scan(ddb, "one"), _scan(ddb, "two")
    assert len(one) > 100 and one == two


def test_every_generated_entity_validates_through_its_model(ddb: Any) -> None:
    # GIVEN a workload that makes every kind of op
    ops = _all_ops(SMALL)
    assert {(type(op).__name__, op.entity) for op in ops} == ALL_OPS
    # WHEN it is written through the repository (events skipped: no publisher)
    summary = run_workload(phases(SMALL), repository=lambda: _repo(serialized(ddb), "one"), threads=2)
    # THEN nothing failed and every create and update reached its table
    assert summary["summary"]["failed"] == 0, summary["errors"]
    assert summary["summary"]["skipped"] == sum(isinstance(op, Publish) for op in ops)
    counts = summary["entities"]
    for kind, entity in ALL_OPS - {("Publish", "dashboard_metric")}:
        outcome = "created" if kind == "Create" else "updated"
        assert counts[entity][outcome] == sum(type(op).__name__ == kind and op.entity == entity for op in ops)
    stored = _scan(ddb, "one")
    assert len(stored) == sum(isinstance(op, Create) for op in ops)
    assert all(set(AUDIT_FIELDS) & set(item) for item in stored.values())


def test_second_run_reports_each_conflict_as_data(ddb: Any) -> None:
    run_workload(phases(SMALL), repository=lambda: _repo(ddb, "one"))
    # WHEN the same seed runs again into the same tables
    again = run_workload(phases(SMALL), repository=lambda: _repo(ddb, "one"))
    # THEN every create fails on its own (ConflictError) and the run still finishes
    creates = sum(isinstance(op, Create) for op in _all_ops(SMALL))
    assert sum(c.get("failed", 0) for c in again["entities"].values()) >= creates
    assert again["errors"] and all("Conflict" in e["error"] or "Error" in e["error"] for e in again["errors"])
    assert len(again["errors"]) == 20  # the counts are complete, the messages capped


def test_publisher_mode_publishes_valid_events_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        kinesis.create_stream(StreamName="events-test", ShardCount=1)
        publisher = Publisher(kinesis, "events-test", name="synthetic-test", linger_seconds=None)
        config = SMALL.model_copy(update={"startups": 2})
        summary = run_workload(phases(config, "publisher"), repository=None, publisher=publisher)
    assert summary["summary"]["failed"] == 0 and summary["summary"]["skipped"] == 0
    assert set(summary["entities"]) == {"dashboard_metric", "stripe_mrr_sync", "chatbot_turn", "gamification_action"}
    assert all(set(c) == {"published"} for c in summary["entities"].values())


# -- rate limiting -------------------------------------------------------------------


def test_token_bucket_holds_the_rate_on_a_fake_clock() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, burst=5, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(105):
        bucket.acquire()
        stamps.append(clock())
    # THEN the burst goes at once, then one token every 1/rate seconds
    assert stamps[:5] == [0.0] * 5
    assert stamps[-1] == pytest.approx(10.0)
    for i in range(len(stamps)):  # no window of t seconds holds more than burst + rate * t
        for j in range(i, len(stamps)):
            assert j - i + 1 <= 5 + 10 * (stamps[j] - stamps[i]) + 1e-9


def test_token_bucket_refills_while_idle_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()
    clock.now += 100.0  # idle a long time: the bucket holds at most `burst`
    waits = [bucket.acquire() for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] == pytest.approx(0.5)


def test_workload_is_paced_by_the_limiter() -> None:
    clock = FakeClock()
    config = SMALL.model_copy(update={"startups": 2})
    ops = len(_all_ops(config))
    summary = run_workload(
        phases(config), repository=None, threads=1, limiter=TokenBucket(50.0, clock=clock, sleep=clock.sleep)
    )
    assert summary["summary"]["total"] == ops
    assert clock.now == pytest.approx((ops - 1) / 50.0)


@pytest.mark.parametrize(
    ("text", "per_second"), [("200/s", 200.0), ("200", 200.0), ("6000/min", 100.0), ("2.5/s", 2.5)]
)
def test_parse_rate(text: str, per_second: float) -> None:
    assert parse_rate(text) == per_second


@pytest.mark.parametrize("text", ["0/s", "-3/s", "fast", "10/h", "nan", "inf"])
def test_parse_rate_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)


def test_tenant_ids_differ_per_seed_and_index() -> None:
    ids = {build_tenant(seed, i, as_of=AS_OF, days=30).tenant_id for seed in (1, 2) for i in range(10)}
    assert len(ids) == 20


@pytest.mark.parametrize("args", [["--rate", "fast"], ["--days", "5", "--points", "9"]])
def test_generate_command_rejects_bad_options_before_touching_the_stack(args: list[str]) -> None:
    import typer
    from typer.testing import CliRunner

    from auxeira.cli.generate import generate

    app = typer.Typer()
    app.command()(generate)
    app.command("noop")(lambda: None)  # two commands: typer then keeps "generate" as a sub-command
    # WHEN the options are invalid THEN typer reports a usage error (exit 2), no stack is needed
    result = CliRunner().invoke(app, ["generate", *args])
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output
