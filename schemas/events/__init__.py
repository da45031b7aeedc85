"""Published events: registered pydantic models of facts with no table behind them.

Importing this package registers the seeds' events (:mod:`schemas.events.published`)
in :data:`REGISTRY`. Services add their own with ``@register``.
"""

from schemas.events.published import (
    ChatbotTurn,
    DashboardMetricRecorded,
    FeatureUse,
    GamificationAction,
    PageView,
    QuickBooksSync,
    StripeMrrSync,
)
from schemas.events.registry import (
    REGISTRY,
    EventRegistry,
    EventValidationError,
    PublishedEvent,
    UnknownEventTypeError,
    register,
    to_envelope,
)

__all__ = [
    "REGISTRY",
    "ChatbotTurn",
    "DashboardMetricRecorded",
    "EventRegistry",
    "EventValidationError",
    "FeatureUse",
    "GamificationAction",
    "PageView",
    "PublishedEvent",
    "QuickBooksSync",
    "StripeMrrSync",
    "UnknownEventTypeError",
    "register",
    "to_envelope",
]
