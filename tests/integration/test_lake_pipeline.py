"""The lake on the local stack: the archiver as a consumer of the real stream, the jobs, the check."""

from __future__ import annotations

import uuid

import pytest

from auxeira.operations.lake import current_drift, run_job
from auxeira.operations.local_stack_pipeline import build_pipeline
from auxeira.runtime.objects import LocalObjects
from glue_jobs.pii import LOCAL_DEVELOPMENT_KEY, Tokenizer
from producers.repository import Repository

pytestmark = pytest.mark.integration


def _write(repo: Repository, tenants: list[str]) -> None:
    for tenant in tenants:
        for n in range(3):
            key = {"startup_id": f"{tenant}-s{n}"}
            repo.create(
                "startup",
                {
                    "tenant_id": tenant,
                    **key,
                    "company_name": f"Startup {n}",
                    "industry": "EdTech",
                    "stage": "Seed",
                    "sse_score": 40 + n,
                    "company_details": {"tax_id": "SECRET-TAX", "headquarters_address": {"city": "Accra"}},
                    "financial_metrics": {"mrr": 1000.5 * n, "runway_months": 3 + n},
                },
                actor="it",
            )
            repo.update("startup", key, {"sse_score": 60 + n}, actor="it")
        repo.soft_delete("startup", {"startup_id": f"{tenant}-s0"}, actor="it", reason="duplicate")
        repo.delete("startup", {"startup_id": f"{tenant}-s1"}, actor="it")


def test_the_archived_stream_becomes_a_current_state_equal_to_the_tables(make_runtime):
    # GIVEN writes through the repository, routed and consumed by every consumer, the archiver included
    runtime = make_runtime()
    tenants = [f"lake-{uuid.uuid4().hex[:6]}-{n}" for n in range(2)]
    _write(Repository(runtime.dynamodb, env=runtime.env), tenants)
    pipeline = build_pipeline(runtime)
    pipeline.run_until_caught_up()
    assert pipeline.moved("archiver") == pipeline.moved("cache") > 0
    objects = LocalObjects(runtime.lake_root)
    raw = {k: objects.get(k) for k in objects.list("raw/events/")}
    assert raw and not any(b"SECRET-TAX" in body for body in raw.values())
    # WHEN the lake jobs run THEN the current tables equal a scan of the tables
    curated = run_job("raw_to_curated", runtime.lake_root, engine="arrow")
    assert curated.total_rows == pipeline.moved("archiver")
    run_job("current_state", runtime.lake_root, engine="arrow")
    drift = current_drift(
        objects, runtime.dynamodb, runtime.env, Tokenizer(LOCAL_DEVELOPMENT_KEY), tenants=set(tenants)
    )
    assert drift == []
    # WHEN the archiver replays the stream from the start THEN the archive is unchanged
    runtime.checkpoints.reset("archiver")
    replay = build_pipeline(runtime)
    replay.run_until_caught_up()
    assert replay.moved("archiver") == pipeline.moved("archiver")
    assert {k: objects.get(k) for k in objects.list("raw/events/")} == raw
