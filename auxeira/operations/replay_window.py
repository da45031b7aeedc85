"""The window a replay reads, its name in the checkpoint table, and which source still holds it.

A replay's progress is stored like a consumer's, per shard, under a consumer name of its
own, ``replay:{projection}:{start}:{end}`` (times as ``20261201T100000Z``; ``now`` when
the window has no end). The name is what makes a replay resumable: rerunning the same
command finds the same rows and resumes from them. A window without an end ends at the
moment the (re)run starts, so a resumed open window reads a little further; that is
harmless, since every projection ignores what it already holds.

Kinesis keeps records for its retention period (24 hours by default, up to 365 days),
read with ``describe_stream_summary``. A window whose start is older than that, or too
close to it (Kinesis may trim the oldest records while the replay still reads them),
is read from the lake's raw archive instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

__all__ = [
    "RETENTION_MARGIN",
    "SOURCES",
    "StreamRetention",
    "Window",
    "choose_source",
    "parse_time",
    "stream_retention",
]

SOURCES = ("kinesis", "lake")
#: A window starting less than this after the stream's trim horizon is read from the lake.
RETENTION_MARGIN = timedelta(minutes=10)
_STAMP = "%Y%m%dT%H%M%SZ"


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``2026-12-01T10:00:00Z``, ``2026-12-01 10:00``, ``2026-12-01``) in UTC.

    A time without a zone is read as UTC (operators paste log times, which are UTC here).

    Raises:
        ValueError: not an ISO 8601 time.
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text!r} (e.g. 2026-12-01T10:00:00Z)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def stamp(at: datetime) -> str:
    """``20261201T100000Z`` (with milliseconds when the time has some): no colon, so it reads in a key."""
    text = at.astimezone(UTC).strftime(_STAMP)
    return text if not at.microsecond else f"{text[:-1]}.{at.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Window:
    """Records that reached the stream in ``[start, end]``; ``end`` None: until the run starts."""

    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"--to ({self.end.isoformat()}) must be after --from ({self.start.isoformat()})")

    @property
    def label(self) -> str:
        return f"{stamp(self.start)}:{stamp(self.end) if self.end else 'now'}"

    def consumer(self, projection: str) -> str:
        """The checkpoint table's consumer name of this window's replay into ``projection``."""
        return f"replay:{projection}:{self.label}"

    def bounded(self, now: datetime) -> datetime:
        """The end this run reads to: ``end``, never later than ``now`` (nothing arrived after it yet).

        Raises:
            ValueError: the window starts in the future.
        """
        if self.start >= now:
            raise ValueError(f"--from {self.start.isoformat()} is in the future (now {now.isoformat()})")
        return now if self.end is None or self.end > now else self.end


@dataclass(frozen=True)
class StreamRetention:
    """What ``describe_stream_summary`` says about how far back the stream reaches."""

    stream: str
    arn: str
    hours: int
    created: datetime
    oldest_kept: datetime

    def holds(self, window: Window) -> bool:
        """Whether every record of the window is still in the stream, with a margin.

        A stream created after the window started holds everything since its creation.
        """
        return max(window.start, self.created) >= self.oldest_kept + RETENTION_MARGIN

    def whole_history(self, window: Window) -> bool:
        """Whether the window is every event the stream ever carried: it starts no later than
        the stream's creation, has no end, and the stream has trimmed nothing yet."""
        return window.end is None and window.start <= self.created and self.created >= self.oldest_kept


def stream_retention(kinesis: Any, stream_name: str, now: datetime) -> StreamRetention | None:
    """The stream's retention, or None when the stream does not exist (only the lake remains)."""
    try:
        summary = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    hours = int(summary["RetentionPeriodHours"])
    created = summary.get("StreamCreationTimestamp")
    created = created.astimezone(UTC) if isinstance(created, datetime) else datetime.fromtimestamp(0, UTC)
    return StreamRetention(stream_name, summary["StreamARN"], hours, created, now - timedelta(hours=hours))


def choose_source(
    requested: str | None, window: Window, retention: StreamRetention | None, lake_available: bool
) -> str:
    """``kinesis`` or ``lake``: the one asked for if it holds the window, else whichever does.

    Raises:
        ValueError: the source asked for cannot serve the window, or none can (the message
            says what the operator can do instead).
    """
    if requested is not None and requested not in SOURCES:
        raise ValueError(f"--source must be one of {', '.join(SOURCES)}, got {requested!r}")
    in_stream = retention is not None and retention.holds(window)
    if requested == "kinesis" or (requested is None and in_stream):
        if not in_stream:
            raise ValueError(_gone(window, retention) + "; use --source lake")
        return "kinesis"
    if not lake_available:
        why = "the lake's raw archive is not available in this build" + (
            "" if requested == "lake" else f" and {_gone(window, retention)}"
        )
        raise ValueError(f"{why}; rebuild the projection with `auxeira backfill --table all` instead")
    return "lake"


def _gone(window: Window, retention: StreamRetention | None) -> str:
    if retention is None:
        return "the events stream does not exist"
    return (
        f"the stream keeps {retention.hours} h: records before {retention.oldest_kept.isoformat(timespec='seconds')} "
        f"are gone or about to be (window starts {window.start.isoformat(timespec='seconds')})"
    )
