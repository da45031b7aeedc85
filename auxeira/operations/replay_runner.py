"""How a replay adapts the mapping runner: its clock, its rate and where what it gives up goes.

A replay runs the live consumers' :class:`~auxeira.runtime.mapping_runner.LocalEventSourceMapping`
unchanged; these three pieces are the only differences, each for a reason of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from auxeira.runtime.failure_records import FailureRecords
from auxeira.runtime.handlers import Handler
from auxeira.runtime.objects import ObjectStore
from producers.synthetic.ratelimit import TokenBucket

__all__ = ["FiledAs", "replay_clock", "throttled"]


def throttled(handler: Handler, bucket: TokenBucket) -> Handler:
    """``handler`` taking at most the bucket's rate of records per second."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        for _ in event.get("Records") or ():
            bucket.acquire()
        return handler(event, context)

    return handle


def replay_clock(window_start: float, started: float) -> Callable[[], float]:
    """The runner's clock, shifted so that a record's age counts from when the replay began.

    The mapping runner gives up records older than the mapping's maximum record age
    (6 h, at most 7 days on AWS); every record of a replayed window is older than that by
    design. Shifted by the window's age, the limit keeps its meaning for a replay: a record
    is given up once the replay has been stuck on it that long.
    """
    shift = max(0.0, started - window_start)
    return lambda: time.time() - shift


class FiledAs(FailureRecords):
    """A replay's discarded records, filed as its projection's own with the real time.

    Filed under the projection's mapping, so ``dlq`` finds them with the live consumer's;
    stamped with the wall clock, since the runner's clock is shifted (:func:`replay_clock`).
    """

    def __init__(self, objects: ObjectStore, consumer: str):
        super().__init__(objects)
        self.consumer = consumer

    def put(self, document: Any, *, consumer: str) -> str:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        context = {**document["requestContext"], "functionArn": f"local:function:{self.consumer}"}
        return super().put({**document, "timestamp": now, "requestContext": context}, consumer=self.consumer)
