"""Reading the source tables for ``auxeira verify``: segmented, streaming, or a random sample.

Never the whole table in memory: a full read is a parallel Scan (``Segment`` /
``TotalSegments``, one thread per segment) whose pages go through a bounded queue, so at
most a few pages (1 MB each at most) are held while the comparison works on one.

A sample of N items reads about N items, not the table: DynamoDB spreads items over
scan segments by the hash of their key, so every segment is a uniform random share of
the table. The table's ``ItemCount`` (DescribeTable; on AWS it lags by up to six hours,
which only changes how many segments are read) sizes segments of about N/4 items;
random segments are read until N items are in hand, then N of them are drawn.

:func:`get_items` reads items back by key (BatchGetItem, consistent), for the checks that
start from a projection's entries and for a repair that re-reads what it re-emits.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from schemas.tables import TableSpec
from schemas.wire.json_values import json_image

__all__ = ["DEFAULT_SEGMENTS", "chunks", "get_items", "key_of_wire", "reservoir", "table_pages", "wire_key"]

T = TypeVar("T")

DEFAULT_SEGMENTS = 4
_QUEUE_PAGES = 8
_BATCH_GET = 100  # BatchGetItem's limit
_DONE = object()


def table_pages(
    client: Any,
    table: str,
    *,
    segments: int = DEFAULT_SEGMENTS,
    sample: int | None = None,
    rng: random.Random | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of a table's items (AttributeValue maps): every item, or a random ``sample``."""
    if sample is None:
        yield from _parallel_scan(client, table, max(1, segments))
    else:
        yield _sample(client, table, sample, rng or random.Random())


def _parallel_scan(client: Any, table: str, segments: int) -> Iterator[list[dict[str, Any]]]:
    """Every page of every segment, as the segments' threads read them (bounded queue)."""
    pages: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_PAGES)
    stop = threading.Event()

    def read(segment: int) -> None:
        try:
            for page in _segment_pages(client, table, segment, segments):
                while not stop.is_set():
                    try:
                        pages.put(page, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, who raises it
            pages.put(exc)
        finally:
            pages.put(_DONE)

    with ThreadPoolExecutor(max_workers=segments) as pool:
        for segment in range(segments):
            pool.submit(read, segment)
        done = 0
        try:
            while done < segments:
                page = pages.get()
                if page is _DONE:
                    done += 1
                elif isinstance(page, BaseException):
                    raise page
                else:
                    yield page
        finally:
            stop.set()
            while done < segments:  # let blocked readers finish
                if pages.get() is _DONE:
                    done += 1


def _segment_pages(client: Any, table: str, segment: int, total: int) -> Iterator[list[dict[str, Any]]]:
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True, "Segment": segment, "TotalSegments": total}
    while True:
        page = client.scan(**kwargs)
        yield page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _sample(client: Any, table: str, size: int, rng: random.Random) -> list[dict[str, Any]]:
    """``size`` random items (all of them when the table holds no more)."""
    count = int(client.describe_table(TableName=table)["Table"].get("ItemCount", 0))
    total = max(1, min(1_000_000, (count * 4) // max(1, size)))
    order = list(range(total)) if total <= 100_000 else rng.sample(range(total), min(total, 100_000))
    rng.shuffle(order)
    held: list[dict[str, Any]] = []
    for segment in order:
        # Within a segment, items come in the order of their keys' hash: the first ones are a
        # random share too, so a segment far larger than expected (a stale ItemCount) stops early.
        for page in _segment_pages(client, table, segment, total):
            held += page
            if len(held) >= size:
                break
        if len(held) >= size:
            break
    return held if len(held) <= size else rng.sample(held, size)


def reservoir(items: Iterable[Any], size: int, rng: random.Random) -> list[Any]:
    """``size`` items drawn uniformly from a stream of unknown length, holding only ``size``."""
    kept: list[Any] = []
    for n, item in enumerate(items):
        if n < size:
            kept.append(item)
        else:
            slot = rng.randrange(n + 1)
            if slot < size:
                kept[slot] = item
    return kept


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to ``size`` items, in order, holding one list at a time."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def wire_key(spec: TableSpec, key: str) -> dict[str, Any]:
    """A table's primary key (AttributeValue map) from an item's stable key."""
    types = spec.attribute_types()
    return {name: {types.get(name, "S"): value} for name, value in spec.key_dict(key).items()}


def key_of_wire(spec: TableSpec, item: dict[str, Any]) -> str:
    """The stable key of an item as DynamoDB returns it, exactly as the router computes it."""
    return spec.key_of(json_image({a: item[a] for a in spec.key_attrs}))


def get_items(client: Any, table: str, spec: TableSpec, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Stable key -> item (AttributeValue map) for the keys that exist (consistent reads)."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), _BATCH_GET):
        request = {
            table: {"Keys": [wire_key(spec, k) for k in wanted[start : start + _BATCH_GET]], "ConsistentRead": True}
        }
        while request:
            response = client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                found[key_of_wire(spec, item)] = item
            request = response.get("UnprocessedKeys") or {}
            if request:
                time.sleep(0.05)  # throttled: BatchGetItem hands back what it did not read
    return found
