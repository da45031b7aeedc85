"""A workload config -> the ordered units of ops the workload runs (pure).

Phases, in this order (a phase starts when the one before has finished):

1. one unit per tenant: its staff and investors, partners, events, activities catalogue;
2. one unit per startup (founder, profile, metric points, platform use and loans in time
   order, then the profile brought to the last point) and one per tenant for the
   dashboards of the six other user types.

Every unit draws from its own RNG seeded from (seed, tenant, index), so units can be
built lazily, in any order, on any thread, and still give the same data.

``via="repository"`` writes table entities through the repository and publishes the
dashboards (they have no table). ``via="publisher"`` writes no table at all: each
startup's points go out as Stripe syncs and founder dashboard metrics, its chatbot
messages as chatbot turns, its token-earning activities as gamification actions.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import date, datetime
from functools import partial
from typing import Any, Literal

from producers.synthetic import dashboards, events, loans, tenants
from producers.synthetic.config import WorkloadConfig
from producers.synthetic.engagement import build_engagement
from producers.synthetic.ops import Create, Op, Publish, Unit, Update, by_time
from producers.synthetic.startups import StartupSeries, build_startup

__all__ = ["TREND_MIX", "Via", "phases", "sub_seed"]

Via = Literal["repository", "publisher"]
#: Share of each trend among startups when the config names none.
TREND_MIX = {"improving": 0.45, "stable": 0.25, "declining": 0.15, "volatile": 0.15}


def sub_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed for one part of the workload, stable across runs and platforms."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def phases(config: WorkloadConfig, via: Via = "repository") -> list[list[Unit]]:
    """The units of each phase (see the module docstring)."""
    contexts = [
        tenants.build_tenant(config.seed, t, as_of=config.as_of, days=config.days) for t in range(config.tenants)
    ]
    setup = [Unit(f"tenant:{c.tenant_id}", partial(_tenant_ops, c, via)) for c in contexts]
    work = [
        Unit(f"startup:{c.tenant_id}:{i}", partial(_startup_ops, config, t, c, i, via))
        for t, c in enumerate(contexts)
        for i in range(config.startups)
    ]
    work += [Unit(f"dashboards:{c.tenant_id}", partial(_dashboard_unit, config, t, c)) for t, c in enumerate(contexts)]
    return [setup, work]


def _tenant_ops(ctx: tenants.TenantContext, via: Via) -> list[Op]:
    if via == "publisher":
        return []
    ops: list[Op] = [Create("user", u, ctx.admin_id) for u in ctx.users]
    ops += [Create("partner", p, ctx.admin_id) for p in ctx.partners]
    ops += [Create("event", e, ctx.admin_id) for e in ctx.events]
    ops += [Create("catalog_activity", c, ctx.admin_id) for c in ctx.catalog]
    return ops


def _startup_ops(config: WorkloadConfig, t: int, ctx: tenants.TenantContext, i: int, via: Via) -> list[Op]:
    rng = random.Random(sub_seed(config.seed, "startup", t, i))
    series_config = config.series_config("startup_founder", _pick_trend(config, rng), rng.getrandbits(63))
    startup = build_startup(series_config, tenant_id=ctx.tenant_id, as_of=config.as_of)
    uid = startup.founder["user_id"]
    use = build_engagement(rng, ctx, startup, as_of=config.as_of)
    timed: list[Op] = [Create("startup_metric", m, uid, _snapshot_at(m)) for m in startup.metrics]
    timed += use.creates
    end = datetime.combine(config.as_of, dashboards.SNAPSHOT_TIME)
    chosen_at = rng.choice(use.creates).at
    assert chosen_at is not None  # every platform-use create has its time
    opened = min(end, chosen_at)
    timed += loans.build_loan(
        rng,
        tenant_id=ctx.tenant_id,
        startup=startup.profile,
        borrower_id=uid,
        lenders=ctx.investors(),
        opened_at=opened,
        end=end,
    )
    if via == "publisher":
        return list(_published(startup, by_time(timed)))
    head: list[Op] = [
        Create("user", startup.founder, ctx.admin_id),
        Create("startup", startup.profile, uid),
        Create(
            "user_startup",
            {
                "tenant_id": ctx.tenant_id,
                "user_id": uid,
                "startup_id": startup.startup_id,
                "role": "founder",
                "is_primary": True,
            },
            uid,
        ),
    ]
    tokens = {
        "subscription_tier": rng.choice(("Starter", "Growth", "Scale")),
        "subscription_status": "active",
        "aux_tokens_earned_total": use.tokens_earned,
        "aux_tokens_spent_total": use.tokens_spent,
        "aux_token_balance": use.tokens_earned - use.tokens_spent,
    }
    tail = Update(
        "startup", {"startup_id": startup.startup_id}, {**startup.latest, "platform_subscription": tokens}, uid
    )
    return [*head, *by_time(timed), tail]


def _snapshot_at(metric: dict[str, Any]) -> datetime:
    return datetime.combine(date.fromisoformat(metric["date"]), dashboards.SNAPSHOT_TIME)


def _pick_trend(config: WorkloadConfig, rng: random.Random) -> str:
    return config.trend or rng.choices(tuple(TREND_MIX), weights=tuple(TREND_MIX.values()))[0]


def _published(startup: StartupSeries, ops: list[Op]) -> Iterator[Op]:
    """``--via publisher``: the events a startup's table writes stand for."""
    founder = startup.founder["user_id"]
    for op in ops:
        if not isinstance(op, Create):
            continue
        if op.entity == "startup_metric":
            yield Publish(events.stripe_sync(op.values), op.at)
            for point in dashboards.founder_view(op.values, subject_id=founder):
                yield Publish(events.dashboard_event(point), op.at)
        elif op.entity == "chatbot_message":
            yield Publish(events.chatbot_turn(op.values), op.at)
        elif op.entity == "activity" and (action := events.gamification_action(op.values)):
            yield Publish(action, op.at)


def _dashboard_unit(config: WorkloadConfig, t: int, ctx: tenants.TenantContext) -> list[Op]:
    return list(_dashboard_ops(config, t, ctx))


def _dashboard_ops(config: WorkloadConfig, t: int, ctx: tenants.TenantContext) -> Iterator[Op]:
    for n, user in enumerate(u for u in ctx.users if u["user_type"] in dashboards.METRICS):
        rng = random.Random(sub_seed(config.seed, "dashboard", t, n))
        series = config.series_config(user["user_type"], _pick_trend(config, rng), rng.getrandbits(63))
        for point in dashboards.generate_dashboard(
            series, tenant_id=ctx.tenant_id, subject_id=user["user_id"], as_of=config.as_of
        ):
            yield Publish(events.dashboard_event(point), point.recorded_at)
