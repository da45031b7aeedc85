"""``auxeira query --engine athena``: the same SQL through Athena's API in a workgroup, polled,
paged, typed by the result's column types (a fake client here: moto's Athena runs no SQL)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from auxeira.operations.lake_query import AthenaEngine, QueryError


class FakeAthena:
    """Athena's three calls, answering with a script of states and result pages."""

    def __init__(self, states: list[str], pages: list[dict[str, Any]], reason: str = ""):
        self.states, self.pages, self.reason = list(states), pages, reason
        self.started: dict[str, Any] = {}
        self.tokens: list[str | None] = []

    def start_query_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.started = kwargs
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        status = {"State": state, "StateChangeReason": self.reason}
        return {"QueryExecution": {"Status": status, "Statistics": {"DataScannedInBytes": 1234}}}

    def get_query_results(self, QueryExecutionId: str, NextToken: str | None = None) -> dict[str, Any]:
        self.tokens.append(NextToken)
        return self.pages[0 if NextToken is None else int(NextToken)]


def cells(*values: str | None) -> dict[str, Any]:
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}


INFO = [
    {"Name": "tenant_id", "Type": "varchar"},
    {"Name": "n", "Type": "bigint"},
    {"Name": "mrr", "Type": "decimal(38,10)"},
    {"Name": "share", "Type": "double"},
    {"Name": "live", "Type": "boolean"},
    {"Name": "day", "Type": "date"},
    {"Name": "at", "Type": "timestamp"},
]
PAGES = [
    {
        "ResultSet": {
            "ResultSetMetadata": {"ColumnInfo": INFO},
            "Rows": [
                cells("tenant_id", "n", "mrr", "share", "live", "day", "at"),
                cells("t1", "3", "10.50", "0.25", "true", "2026-01-05", "2026-01-05 12:00:00.000"),
            ],
        },
        "NextToken": "1",
    },
    {"ResultSet": {"Rows": [cells("t2", "1", None, "1.0", "false", None, None)]}},
]


def test_a_query_runs_in_the_workgroup_and_its_pages_come_back_typed():
    client = FakeAthena(["QUEUED", "RUNNING", "SUCCEEDED"], PAGES)
    waits: list[float] = []
    engine = AthenaEngine(client, "auxeira_lake_prod", "auxeira-prod", sleep=waits.append)
    result = engine.run("SELECT 1")
    assert client.started == {
        "QueryString": "SELECT 1",
        "QueryExecutionContext": {"Database": "auxeira_lake_prod"},
        "WorkGroup": "auxeira-prod",
    }
    assert len(waits) == 2 and client.tokens == [None, "1"]
    assert result.columns == ("tenant_id", "n", "mrr", "share", "live", "day", "at")
    assert result.rows == [
        ("t1", 3, Decimal("10.50"), 0.25, True, date(2026, 1, 5), datetime(2026, 1, 5, 12, 0)),
        ("t2", 1, None, 1.0, False, None, None),
    ]
    assert result.stats == {"query_execution_id": "q-1", "bytes_scanned": 1234}


def test_a_failed_query_raises_with_athenas_reason():
    engine = AthenaEngine(FakeAthena(["FAILED"], PAGES, "SYNTAX_ERROR: line 1:8"), "db", "wg", sleep=lambda _: None)
    with pytest.raises(QueryError, match="q-1 failed: SYNTAX_ERROR"):
        engine.run("SELECT nope")


def test_a_query_still_running_past_the_timeout_is_given_up():
    engine = AthenaEngine(
        FakeAthena(["RUNNING"], PAGES), "db", "wg", timeout_seconds=2, poll_seconds=1, sleep=lambda _: None
    )
    with pytest.raises(QueryError, match="still running after 2 s"):
        engine.run("SELECT 1")
