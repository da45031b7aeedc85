"""The lake jobs' bookkeeping under ``_state/``: which raw objects ``raw_to_curated`` has read.

Glue job bookmarks can be reset but not set, and a job that rewrites objects re-reads
them into duplicates (amazon-s3-find-and-forget #291). This state is plain objects the
job owns, one per arrival day: ``_state/raw_to_curated/processed/dt=YYYY-MM-DD.json``
listing the raw object keys already turned into curated rows. An operator can

* **reset** a window (``auxeira lake run raw_to_curated --from D1 --to D2 --mark
  unprocessed``): the next run reads those days again;
* **set** a window (``--mark processed``): the next run skips them;
* **re-run** a window (``--from D1 --to D2``): read every object of those days now,
  whatever the state says.

Re-reading is always safe: ``raw_to_curated`` drops events already in curated (by
``event_id``), so a window run twice gives the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import orjson

from auxeira.runtime.objects import ObjectStore
from glue_jobs.raw_format import RawObject, list_raw_objects
from glue_jobs.runs import RunResult
from schemas.resources import LAKE

__all__ = ["ProcessedObjects", "mark_window"]


class ProcessedObjects:
    """Raw objects a job has processed, per arrival day."""

    def __init__(self, objects: ObjectStore, job: str = "raw_to_curated"):
        self.objects = objects
        self.prefix = f"{LAKE.state}/{job}/processed/"

    def _key(self, day: date) -> str:
        return f"{self.prefix}dt={day.isoformat()}.json"

    def of_day(self, day: date) -> set[str]:
        key = self._key(day)
        if not self.objects.exists(key):
            return set()
        return set(orjson.loads(self.objects.get(key)).get("objects", []))

    def unprocessed(self, raw: Iterable[RawObject]) -> list[RawObject]:
        """Those of ``raw`` not yet processed."""
        by_day: dict[date, set[str]] = {}
        out = []
        for obj in raw:
            if obj.day not in by_day:
                by_day[obj.day] = self.of_day(obj.day)
            if obj.key not in by_day[obj.day]:
                out.append(obj)
        return out

    def mark(self, raw: Iterable[RawObject]) -> int:
        """Record these objects as processed (after their rows are written); returns how many."""
        by_day: dict[date, set[str]] = {}
        for obj in raw:
            by_day.setdefault(obj.day, set()).add(obj.key)
        for day, keys in by_day.items():
            merged = sorted(self.of_day(day) | keys)
            self.objects.put(self._key(day), orjson.dumps({"objects": merged}, option=orjson.OPT_INDENT_2))
        return sum(len(k) for k in by_day.values())

    def forget(self, days: Iterable[date]) -> int:
        """Reset: the next run reads these days again; returns how many objects were forgotten."""
        forgotten = 0
        for day in days:
            forgotten += len(self.of_day(day))
            self.objects.delete(self._key(day))
        return forgotten


def mark_window(objects: ObjectStore, start: date, end: date, *, processed: bool) -> RunResult:
    """Set (``processed``) or reset the state of every raw object of ``[start, end]``."""
    state = ProcessedObjects(objects)
    result = RunResult("raw_to_curated", "state")
    if processed:
        result.objects = state.mark(list_raw_objects(objects, start, end))
    else:
        result.objects = state.forget(start + timedelta(days=n) for n in range((end - start).days + 1))
    result.details = {"mark": "processed" if processed else "unprocessed", "from": str(start), "to": str(end)}
    return result
