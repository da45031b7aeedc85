"""Secrets never leave their table: marker values planted in every secret attribute (the specs'
and secret-looking ones a foreign writer adds, nested and in lists), some in records the pipeline
dead-letters, are found nowhere the pipeline writes: the events stream, the cache, the search
index, the counters and history tables, the dead letters and failure records, the logs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from auxeira.operations.local_stack_pipeline import build_pipeline
from auxeira.runtime.observability import PowertoolsObserver
from producers.repository import Repository
from schemas import catalog
from schemas.resources import COUNTERS_TABLE, HISTORY_TABLE
from schemas.wire.dynamodb import serialize_item
from tests.factories import make_item, make_stored_item

pytestmark = pytest.mark.integration

MARK = "SECRET-MARKER-"


def _marked(entity: str, path: str, n: int) -> dict[str, Any]:
    """A valid item of ``entity`` whose secret ``path`` holds a marker."""
    item = make_item(entity, n)
    head, _, rest = path.partition(".")
    value = f"{MARK}{entity}-{path}"
    if rest:
        item[head] = {**(item.get(head) or {}), rest: value}
    elif entity == "loan" and head == "disbursement_account":
        item[head] = {"iban": value}
    else:
        item[head] = value
    return item


def _foreign(n: int) -> dict[str, Any]:
    """A startup a foreign writer stored with secret-looking attributes no spec lists."""
    item = make_stored_item("startup", 100 + n, version=1)
    item.update(
        {
            "password_reset_token": f"{MARK}reset-{n}",
            "profile": {"password_hash": f"{MARK}nested-{n}", "bio": "public"},
            "directors": [{"name": "Ada", "tax_id": f"{MARK}list-{n}"}],
        }
    )
    return item


def test_no_marker_reaches_any_store_file_or_log(make_runtime, local_stack, caplog, capfd) -> None:
    # The pipeline's own logs at every level; third-party clients at the level a deployed
    # function runs them (botocore's DEBUG would echo every request body, the writer's included).
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="auxeira")
    runtime = make_runtime()
    repo = Repository(runtime.dynamodb, env=runtime.env, history=True)
    # GIVEN every secret path of every entity holding a marker, written through the repository
    n = 0
    for entity, spec in catalog.ENTITIES.items():
        for path in spec.secret:
            n += 1
            repo.create(entity, _marked(entity, path, n), actor="it")
    # AND foreign writes with secret-looking attributes, one of them poison (a version the router refuses)
    startups = catalog.table("startups").physical_name(runtime.env)
    runtime.dynamodb.put_item(TableName=startups, Item=serialize_item(_foreign(1)))
    poison = serialize_item(_foreign(2))
    poison["version"] = {"N": "-3"}  # DynamoDB stores it; the router refuses it
    runtime.dynamodb.put_item(TableName=startups, Item=poison)
    # WHEN the pipeline runs until idle
    build_pipeline(runtime, observer=PowertoolsObserver("secrets-scan")).run_until_caught_up()
    # THEN a dead letter exists (so the scan covers one) and no marker is anywhere the pipeline writes
    lake = Path(runtime.lake_root)
    assert list(lake.rglob("dlq/**/*.json")), "the poison record was expected in the dead-letter store"
    found = {
        "events stream": _stream_bytes(runtime),
        "cache": _redis_bytes(runtime),
        "search index": _file_bytes(Path(runtime.search_sink().path).parent),
        "lake (dead letters, failures, archive)": _file_bytes(lake),
        "counters table": _table_bytes(runtime, COUNTERS_TABLE.physical_name(runtime.env)),
        "history table": _table_bytes(runtime, HISTORY_TABLE.physical_name(runtime.env)),
        "logs": (caplog.text + "".join(capfd.readouterr())).encode(),
    }
    leaks = {where: data.count(MARK.encode()) for where, data in found.items() if MARK.encode() in data}
    assert leaks == {}
    # AND the markers are still where they belong: in the source tables
    assert MARK.encode() in _table_bytes(runtime, startups)


def _stream_bytes(runtime: Any) -> bytes:
    out = b""
    for shard in runtime.kinesis.list_shards(StreamName=runtime.stream_name)["Shards"]:
        iterator = runtime.kinesis.get_shard_iterator(
            StreamName=runtime.stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = runtime.kinesis.get_records(ShardIterator=iterator, Limit=1000)
            out += b"".join(r["Data"] for r in page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return out


def _redis_bytes(runtime: Any) -> bytes:
    client = runtime.cache_sink().client
    out = b""
    for key in client.scan_iter(match=f"aux:{runtime.env}:*", count=1000):
        # Entries are hashes; the store's epoch marker is a plain string: every value, whatever its type.
        kind = client.type(key)
        values = client.hgetall(key).values() if kind == b"hash" else [client.dump(key) or b""]
        out += key + b"".join(values)
    return out


def _file_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()) if root.exists() else b""


def _table_bytes(runtime: Any, table: str) -> bytes:
    return repr(runtime.dynamodb.scan(TableName=table)["Items"]).encode()
