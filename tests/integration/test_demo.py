"""``auxeira demo`` end to end: every kind of change reaches every projection, and the check says so."""

from __future__ import annotations

import io

import orjson
import pytest
from rich.console import Console

from auxeira.cli.demo import run_demo

pytestmark = pytest.mark.integration


def test_demo_converges_and_reports_one_json_line(local_stack, local_stack_settings, tmp_path):
    # GIVEN the session's running stack WHEN the demo runs on it
    output = io.StringIO()
    result = run_demo(local_stack_settings, tmp_path / "lake", Console(file=output, width=120))
    # THEN it found no mismatch, saw the race, the deletes and the expiry, and left the stack running
    line = orjson.loads(result.json_line())
    assert line["demo"] == "ok" and line["mismatches"] == 0
    assert result.counts.conflicts == 3 and result.counts.soft_deletes == 3 and result.counts.hard_deletes == 3
    # every write and each TTL expiry became exactly one routed event
    assert line["events"] == line["writes"] + len(result.counts.expiring)
    assert line["cache_keys"] > 0
    for projection in ("cache", "search", "counters", "history"):
        assert f"{projection} == tables" in output.getvalue()
    assert line["search_docs"] > 0
    assert line["counters"] > 0
    assert local_stack.dynamodb_client().list_tables()["TableNames"] is not None
