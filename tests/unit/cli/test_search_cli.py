"""``auxeira search``: the command against the configured (embedded) index."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from auxeira.cli.main import app
from consumers.projections.search import UpsertDoc
from consumers.sinks.search_embedded import EmbeddedSearchSink


@pytest.fixture
def lake(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUXEIRA_LAKE_ROOT", str(tmp_path))
    monkeypatch.delenv("AUXEIRA_OPENSEARCH_URL", raising=False)
    sink = EmbeddedSearchSink.for_lake(tmp_path)
    sink.apply(
        [
            UpsertDoc(
                "startups", "S1", 3, "t1", {"tenant": "t1", "company_name": "SunHarvest", "tagline": "Solar pumps"}
            ),
            UpsertDoc("startups", "S2", 1, "t2", {"tenant": "t2", "company_name": "Solar Two"}),
            UpsertDoc("documents", "D1", 1, "t1", {"tenant": "t1", "document_name": "solar plan.pdf"}),
        ]
    )
    sink.close()
    return tmp_path


def test_json_output_lists_the_tenants_hits_with_versions(lake) -> None:
    result = CliRunner().invoke(app, ["--json", "search", "solar", "--tenant", "t1"])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert out["tenant"] == "t1" and out["count"] == 2
    # the sink stores envelope orders; the command shows the writer's version and the full order
    assert {(h["index"], h["id"], h["order"]) for h in out["hits"]} == {
        ("startups", "S1", "3"),
        ("documents", "D1", "1"),
    }
    assert {h["version"] for h in out["hits"]} == {0}


def test_entity_and_limit_narrow_the_search(lake) -> None:
    result = CliRunner().invoke(app, ["--json", "search", "solar", "-t", "t1", "--entity", "startup", "--limit", "1"])
    assert [h["id"] for h in orjson.loads(result.stdout)["hits"]] == ["S1"]


def test_the_table_names_each_hit(lake) -> None:
    result = CliRunner().invoke(app, ["search", "solar", "--tenant", "t1"])
    assert result.exit_code == 0 and "SunHarvest" in result.output and "S2" not in result.output


def test_an_unknown_entity_is_a_usage_error(lake) -> None:
    result = CliRunner().invoke(app, ["search", "solar", "--tenant", "t1", "--entity", "spaceships"])
    assert result.exit_code == 2 and "startups" in result.output


@pytest.mark.parametrize("text, bound", [(" ".join(["solar"] * 200_000), "characters"), ("w " * 40, "40 words")])
def test_a_query_no_person_types_is_refused_at_once_naming_the_bound(lake, text, bound) -> None:
    result = CliRunner().invoke(app, ["search", text, "--tenant", "t1"])
    assert result.exit_code == 2 and bound in result.output
