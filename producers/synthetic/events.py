"""The generator's published events: the ``dashboard_metric`` event type, and the published
form of generated table data for ``--via publisher``.

``dashboard_metric`` (:class:`~schemas.events.published.DashboardMetricRecorded`) is
registered with the other published events, so every consumer knows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from producers.synthetic.dashboards import SNAPSHOT_TIME, DashboardMetric
from schemas.events.published import ChatbotTurn, DashboardMetricRecorded, GamificationAction, StripeMrrSync

__all__ = [
    "DashboardMetricRecorded",
    "chatbot_turn",
    "dashboard_event",
    "gamification_action",
    "stripe_sync",
]


def dashboard_event(point: DashboardMetric) -> DashboardMetricRecorded:
    return DashboardMetricRecorded(
        tenant_id=point.tenant_id,
        user_type=point.user_type,
        subject_id=point.subject_id,
        metric=point.metric,
        value=point.value,
        unit=point.unit,
        occurred_at=point.recorded_at,
    )


def stripe_sync(metric: Mapping[str, Any]) -> StripeMrrSync:
    """The Stripe sync that would have reported a ``startup_metric`` point's revenue."""
    sid = metric["startup_id"]
    return StripeMrrSync(
        sync_id=f"{sid}:{metric['date']}",
        tenant_id=metric["tenant_id"],
        startup_id=sid,
        stripe_account_id=f"acct_{sid.replace('-', '')[:16]}",
        mrr=metric["mrr"],
        arr=metric["arr"],
        active_subscriptions=metric["total_customers"],
        total_customers=metric["total_customers"],
        occurred_at=datetime.combine(date.fromisoformat(metric["date"]), SNAPSHOT_TIME),
    )


def chatbot_turn(message: Mapping[str, Any]) -> ChatbotTurn:
    """The published turn of a ``chatbot_message`` item's values."""
    fields = set(ChatbotTurn.model_fields) - {"occurred_at"}
    values = {k: v for k, v in message.items() if k in fields and v is not None}
    return ChatbotTurn(**values, occurred_at=message["message_timestamp"])


def gamification_action(activity: Mapping[str, Any]) -> GamificationAction | None:
    """The token award of an ``activity``'s values; None when it earned nothing."""
    earned = int(activity.get("aux_tokens_earned") or 0)
    if not earned:
        return None
    return GamificationAction(
        action_id=activity["activity_id"],
        tenant_id=activity["tenant_id"],
        user_id=activity["user_id"],
        startup_id=activity["startup_id"],
        action_type=activity["activity_type"],
        base_tokens=earned,
        aux_tokens_awarded=earned,
        occurred_at=activity["timestamp"],
    )
