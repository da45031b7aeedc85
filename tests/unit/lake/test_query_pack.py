"""The analysts' query pack: each ``.sql`` parses as Athena's dialect (Trino, sqlglot), runs
unchanged in DuckDB over the lake, and answers what Python computes from the source data
(the generator's final table state and its envelopes), never from the lake."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from auxeira.operations.lake import run_job
from auxeira.operations.lake_dataset import LakeDataset, Timed
from auxeira.operations.lake_query import DuckDbEngine
from auxeira.runtime.objects import LocalObjects
from glue_jobs.query_pack import QUERIES_DIR, pack, pack_query
from glue_jobs.tables import all_tables
from tests.unit.lake.lake_data import KEY, archive_envelopes

Rows = list[tuple[Any, ...]]
QUESTIONS = (
    "activity_leaderboard",
    "chatbot_intent_mix",
    "document_uploads",
    "investor_match_funnel",
    "loan_funding_progress",
    "mrr_arr_trend",
    "runway_under_6_months",
)
DASHBOARDS = ("startup_founder", "venture_capital", "angel_investor", "corporate_partner", "government")
DASHBOARDS += ("esg_funder", "impact_investor")


@pytest.fixture(scope="module")
def data(dataset) -> LakeDataset:
    """The generator's workload, plus a second subject for every dashboard observation and a
    second upload of every document (the generator has one of each per tenant), so that a
    sum and a max, or every observation and the latest, give different answers."""
    extra = []
    for e in dataset.envelopes:
        if e.entity == "dashboard_metric":
            subject = f"{e.after['subject_id']}-2"
            after = {**e.after, "subject_id": subject, "value": e.after["value"] * 3 + 1}
            key = f"{subject}|{e.after['metric']}"
            extra.append(e.model_copy(update={"event_id": f"{e.event_id}-2", "key": key, "after": after}))
        elif e.event_type == "document.created":
            after = {**e.after, "document_id": f"{e.after['document_id']}-2", "file_size_bytes": 17}
            extra.append(e.model_copy(update={"event_id": f"{e.event_id}-2", "key": f"{e.key}-2", "after": after}))
    published = [*dataset.published, *(e for e in extra if e.entity == "dashboard_metric")]
    events = [*dataset.events, *(Timed(e, e.occurred_at.timestamp() + 2) for e in extra)]
    return LakeDataset(dataset.env, sorted(events, key=lambda t: t.arrival), dataset.items, published)


@pytest.fixture(scope="module")
def engine(tmp_path_factory, data) -> DuckDbEngine:
    lake = LocalObjects(tmp_path_factory.mktemp("pack").absolute())
    archive_envelopes(lake, data.envelopes)
    run_job("raw_to_curated", lake.root, engine="arrow", pii_key=KEY.decode())
    run_job("current_state", lake.root, engine="arrow")
    return DuckDbEngine(lake.root)


def test_the_pack_has_a_query_per_question_and_per_dashboard():
    names = {q.name for q in pack()}
    assert names == {*QUESTIONS, *(f"dashboard_{d}" for d in DASHBOARDS)}
    assert all(q.title for q in pack()), "each file says what it answers"


@pytest.mark.parametrize("name", sorted(q.name for q in pack()))
def test_each_query_parses_as_athenas_dialect_and_reads_only_catalog_tables(name):
    sql = (QUERIES_DIR / f"{name}.sql").read_text()
    [tree] = sqlglot.parse(sql, read="trino")
    assert isinstance(tree, exp.Query)
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    read = {t.name for t in tree.find_all(exp.Table)} - ctes
    assert read and read <= {t.name for t in all_tables()}


# -- the answers, computed from the source data --------------------------------------------


def _items(data: LakeDataset, entity: str) -> list[dict[str, Any]]:
    return [item for (e, _), item in data.items.items() if e == entity]


def _live(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if i.get("deleted_at") is None]


def _sum(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _avg(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _day(text: str) -> date:
    return date.fromisoformat(text[:10])


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def activity_leaderboard(data: LakeDataset) -> Rows:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for item in _live(_items(data, "activity")):
        groups[(item["tenant_id"], item["startup_id"])].append(item)
    rows = []
    for (tenant, startup), acts in groups.items():
        earned = sum(a.get("aux_tokens_earned", 0) for a in acts)
        rivals = {k: sum(a.get("aux_tokens_earned", 0) for a in v) for k, v in groups.items() if k[0] == tenant}
        rank = 1 + sum(1 for v in rivals.values() if v > earned)
        rows.append((tenant, startup, len(acts), earned, sum(a.get("aux_tokens_spent", 0) for a in acts), rank))
    return sorted(rows, key=lambda r: (r[0], r[5], r[1]))


def chatbot_intent_mix(data: LakeDataset) -> Rows:
    counts: dict[tuple[str, date, str], int] = defaultdict(int)
    for e in data.envelopes:
        if e.event_type == "chatbot_message.created":
            week = _week(_day(e.after["message_timestamp"]))
            counts[(e.tenant_id, week, e.after.get("message_intent") or "none")] += 1
        elif e.entity == "chatbot_turn":
            counts[(e.tenant_id, _week(e.occurred_at.date()), e.after.get("message_intent") or "none")] += 1
    totals: dict[tuple[str, date], int] = defaultdict(int)
    for (tenant, week, _), n in counts.items():
        totals[(tenant, week)] += n
    return sorted((t, w, i, n, n / totals[(t, w)]) for (t, w, i), n in counts.items())


def _dashboard(data: LakeDataset, user_type: str) -> dict[str, list[dict[str, Any]]]:
    """The latest published observation of each (tenant, subject, metric) of a user type, per tenant."""
    latest: dict[tuple[str, str], Any] = {}
    for e in data.published:
        if e.entity == "dashboard_metric" and e.after["user_type"] == user_type:
            ident = (e.tenant_id, e.key)
            if ident not in latest or e.order > latest[ident].order:
                latest[ident] = e
    per_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (tenant, _), e in latest.items():
        per_tenant[tenant].append(e.after)
    return per_tenant


def _metric(points: list[dict[str, Any]], metric: str, how: Callable[[Iterable[Any]], Any]) -> Any:
    return how(p["value"] for p in points if p["metric"] == metric)


def _subjects(points: list[dict[str, Any]]) -> int:
    return len({p["subject_id"] for p in points})


def dashboard_venture_capital(data: LakeDataset) -> Rows:
    return [
        (t, _subjects(p), *(_metric(p, m, _sum) for m in ("portfolio_size", "aum", "deal_flow", "exits")))
        for t, p in sorted(_dashboard(data, "venture_capital").items())
    ]


def dashboard_angel_investor(data: LakeDataset) -> Rows:
    return [
        (t, _subjects(p), _metric(p, "investments", _sum), _metric(p, "total_invested", _sum), _metric(p, "irr", _avg))
        for t, p in sorted(_dashboard(data, "angel_investor").items())
    ]


def dashboard_corporate_partner(data: LakeDataset) -> Rows:
    return [
        (t, _subjects(p), _metric(p, "active_partnerships", _sum), _metric(p, "pilots", _sum), _metric(p, "roi", _avg))
        for t, p in sorted(_dashboard(data, "corporate_partner").items())
    ]


def dashboard_government(data: LakeDataset) -> Rows:
    metrics = ("startups_monitored", "grants", "economic_impact")
    return [
        (t, _subjects(p), *(_metric(p, m, _sum) for m in metrics))
        for t, p in sorted(_dashboard(data, "government").items())
    ]


def dashboard_esg_funder(data: LakeDataset) -> Rows:
    return [
        (t, _subjects(p), _metric(p, "esg_score", _avg), _metric(p, "carbon_reduction", _sum))
        for t, p in sorted(_dashboard(data, "esg_funder").items())
    ]


def dashboard_impact_investor(data: LakeDataset) -> Rows:
    return [
        (
            t,
            _subjects(p),
            _metric(p, "social_roi", _avg),
            _metric(p, "lives_impacted", _sum),
            _metric(p, "sdg_alignment", _avg),
        )
        for t, p in sorted(_dashboard(data, "impact_investor").items())
    ]


def dashboard_startup_founder(data: LakeDataset) -> Rows:
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for m in _items(data, "startup_metric"):
        ident = (m["tenant_id"], m["startup_id"])
        if ident not in latest or m["date"] > latest[ident]["date"]:
            latest[ident] = m
    per_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (tenant, _), m in latest.items():
        per_tenant[tenant].append(m)
    return [
        (
            t,
            len(ms),
            _avg(m.get("sse_score") for m in ms),
            _sum(m.get("mrr") for m in ms),
            _sum(m.get("total_customers") for m in ms),
            _avg(m.get("team_size") for m in ms),
            _sum(m.get("burn_rate") for m in ms),
        )
        for t, ms in sorted(per_tenant.items())
    ]


def document_uploads(data: LakeDataset) -> Rows:
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for e in data.envelopes:
        if e.event_type == "document.created":
            groups[(e.tenant_id, e.after["startup_id"], e.after["document_type"])].append(
                e.after.get("file_size_bytes")
            )
    return sorted((*k, len(v), _sum(v)) for k, v in groups.items())


def investor_match_funnel(data: LakeDataset) -> Rows:
    reached: dict[tuple[str, str], set[str]] = defaultdict(set)
    for e in data.envelopes:
        if e.entity == "investor_match" and e.after is not None and e.after.get("status") is not None:
            reached[(e.tenant_id, e.key)].add(e.after["status"])
    per_tenant: dict[str, list[set[str]]] = defaultdict(list)
    for (tenant, _), statuses in reached.items():
        per_tenant[tenant].append(statuses)
    return [
        (
            t,
            len(s),
            sum(1 for x in s if x & {"intro_requested", "connected"}),
            sum(1 for x in s if "connected" in x),
            sum(1 for x in s if "passed" in x),
        )
        for t, s in sorted(per_tenant.items())
    ]


def loan_funding_progress(data: LakeDataset) -> Rows:
    funded: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for p in _live(_items(data, "loan_participant")):
        if p.get("status") == "accepted":
            funded[(p["tenant_id"], p["loan_id"])].append(Decimal(str(p["contribution_amount"])))
    rows = []
    for loan in _live(_items(data, "loan")):
        paid = funded.get((loan["tenant_id"], loan["loan_id"]), [])
        total, amount = sum(paid, Decimal(0)), Decimal(str(loan["amount"]))
        rows.append(
            (
                loan["tenant_id"],
                loan["loan_id"],
                loan["status"],
                amount,
                total,
                len(paid),
                total * 100 / amount,
                total >= amount,
            )
        )
    return sorted(rows, key=lambda r: (r[0], r[1]))


def mrr_arr_trend(data: LakeDataset) -> Rows:
    startups = {(s["tenant_id"], s["startup_id"]): s for s in _live(_items(data, "startup"))}
    last: dict[tuple[str, str, date], dict[str, Any]] = {}
    for m in _items(data, "startup_metric"):
        month = _day(m["date"]).replace(day=1)
        ident = (m["tenant_id"], m["startup_id"], month)
        if ident not in last or m["date"] > last[ident]["date"]:
            last[ident] = m
    groups: dict[tuple[str, str, date], list[dict[str, Any]]] = defaultdict(list)
    for (tenant, startup, month), m in last.items():
        s = startups.get((tenant, startup))
        if s is not None:
            groups[(s["industry"], s["stage"], month)].append(m)
    return sorted((*k, len(v), _sum(m.get("mrr") for m in v), _sum(m.get("arr") for m in v)) for k, v in groups.items())


def runway_under_6_months(data: LakeDataset) -> Rows:
    rows = []
    for s in _live(_items(data, "startup")):
        fm = s.get("financial_metrics") or {}
        runway = fm.get("runway_months")
        if runway is not None and runway < 6:
            rows.append(
                (
                    s["tenant_id"],
                    s["startup_id"],
                    s["company_name"],
                    s["stage"],
                    runway,
                    fm.get("cash_balance"),
                    fm.get("monthly_burn_rate"),
                )
            )
    return sorted(rows, key=lambda r: (r[4], r[0], r[1]))


ANSWERS: dict[str, Callable[[LakeDataset], Rows]] = {
    f.__name__: f
    for f in (
        activity_leaderboard,
        chatbot_intent_mix,
        dashboard_angel_investor,
        dashboard_corporate_partner,
        dashboard_esg_funder,
        dashboard_government,
        dashboard_impact_investor,
        dashboard_startup_founder,
        dashboard_venture_capital,
        document_uploads,
        investor_match_funnel,
        loan_funding_progress,
        mrr_arr_trend,
        runway_under_6_months,
    )
}


def _same(got: Any, want: Any) -> bool:
    """Cell equality: numbers within the queries' rounding (at most 2 or more decimals kept)."""
    if isinstance(got, bool) or isinstance(want, bool) or got is None or want is None:
        return got == want
    if isinstance(got, (int, float, Decimal)) and isinstance(want, (int, float, Decimal)):
        return float(got) == pytest.approx(float(want), rel=1e-9, abs=0.006)
    if isinstance(got, datetime):
        got = got.date()
    return got == want


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_each_query_answers_what_the_source_data_says(engine, data, name):
    # GIVEN the generator's workload archived, curated and its current state built
    # WHEN the pack's SQL runs unchanged in DuckDB over the lake
    got = engine.run(pack_query(name).sql).rows
    # THEN it equals the answer computed from the tables' final state and the envelopes
    want = ANSWERS[name](data)
    assert want, f"the generated data gives {name} something to answer"
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        assert len(g) == len(w) and all(_same(a, b) for a, b in zip(g, w, strict=True)), (g, w)
