"""The lake: archive, raw_to_curated in Spark and in pyarrow, the query pack over Parquet and over JSON.

Run: ``.venv/bin/python -m bench.lake [--events N]``. It builds the generator's workload in
memory (:mod:`auxeira.operations.lake_dataset`: the router's envelopes of the writes the
generator plans, dashboards published, every event of a short window of days; past
100,000 envelopes, copies of it under other ids and tenants), then, in one process:

a. archive: Lambda-shaped Kinesis batches (4 shards, the archiver's BatchSize) through
   ``consumers.handlers.archiver``, **every batch delivered twice**;
b. spark: ``raw_to_curated`` in local Spark over the whole archive (the Glue script's code,
   the session started beforehand: Glue bills its start apart); then, for scale, the same
   session only reading and parsing the raw lines into a sink that drops them (the floor
   of any Spark job over this archive: it must read every line once);
c. arrow: the same transform with pyarrow alone, on a second lake fed the same raw objects
   one arrival hour at a time, with a run after each hour (the deployed hourly cadence,
   which leaves a small file per partition and run), then ``compact`` on it;
d. scan: ``current_state``, then every pack query through DuckDB over the Spark lake's Parquet and over views of
   the raw JSON (``bench/lake_raw.py``), counting the bytes DuckDB read (Athena bills
   bytes scanned), and checking both give the same answers;
e. duplicates: rows minus distinct ``event_id`` over every curated table.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import math
import os
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from auxeira.operations.lake_dataset import archive, build_dataset
from auxeira.operations.lake_query import DuckDbEngine
from auxeira.runtime.objects import LocalObjects
from bench.lake_raw import raw_views
from glue_jobs import arrow_engine, spark_engine
from glue_jobs._runtime import configure, lake_path, local_session
from glue_jobs.compaction import compact
from glue_jobs.parquet_io import partition_files
from glue_jobs.pii import LOCAL_DEVELOPMENT_KEY, Tokenizer
from glue_jobs.query_pack import pack
from glue_jobs.raw_format import list_raw_objects
from glue_jobs.tables import curated_tables
from producers.synthetic.config import WorkloadConfig
from schemas.envelope import encode, partition_key
from schemas.resources import LAKE, mapping

SHARDS = 4
AS_OF = date(2026, 3, 1)
#: Days of metric points and dashboard publications (daily): a few days, so the hourly
#: runs of (c) leave many files in each partition, as a day of hourly runs does.
DAYS = 7
TENANTS = 4


def _out(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def dataset(events: int, base: int = 100_000) -> tuple[list[tuple[bytes, str, float]], int]:
    """``events`` envelopes as ``(payload, partition key, arrival)``, in arrival order, and how
    many tenant groups they came from.

    The generator plans through the write path (~1,000 envelopes/s here), so a large run
    generates up to ``base`` envelopes and clones them: clone ``c`` renames every id (each
    uuid to another, consistently, so keys and joins stay whole) and every tenant, as if
    ``c`` more programmes had made the same writes at the same times.
    """

    def config(startups: int) -> WorkloadConfig:
        return WorkloadConfig(tenants=TENANTS, startups=startups, days=DAYS, points=DAYS, as_of=AS_OF, seed=7)

    wanted = min(events, base)
    probe = build_dataset(config(10), env="bench")
    startups = max(1, math.ceil(wanted / (len(probe.events) / 10)))
    data = build_dataset(config(startups), env="bench")
    del data.events[wanted:]
    rows = [(encode(t.envelope), partition_key(t.envelope), t.arrival) for t in data.events]
    tenants = sorted({t.envelope.tenant_id for t in data.events})
    clones = math.ceil(events / len(rows))
    out = list(rows)
    for c in range(1, clones):
        out += [(_clone(payload, c, tenants), f"{key}#{c}", arrival) for payload, key, arrival in rows]
    out.sort(key=lambda r: r[2])
    return out[:events], clones


_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _clone(payload: bytes, c: int, tenants: list[str]) -> bytes:
    salt = f":{c}".encode()
    renamed = _UUID.sub(lambda m: str(uuid.uuid5(uuid.NAMESPACE_OID, (m.group(0) + salt).decode())).encode(), payload)
    for tenant in tenants:
        renamed = renamed.replace(f'"{tenant}"'.encode(), f'"{tenant}-c{c}"'.encode())
    return renamed


def batches(rows: list[tuple[bytes, str, float]], batch_size: int) -> list[list[dict[str, Any]]]:
    """Lambda-shaped Kinesis batches: each record to the shard of its partition key, in order."""
    by_shard: dict[int, list[dict[str, Any]]] = {}
    for n, (payload, key, arrival) in enumerate(rows):
        shard = int(hashlib.md5(key.encode()).hexdigest(), 16) % SHARDS
        sequence = str(49_000_000_000_000_000_000_000_000 + shard * 10**20 + n)
        by_shard.setdefault(shard, []).append(_record(payload, key, f"shardId-{shard:012d}", sequence, arrival))
    return [
        records[i : i + batch_size]
        for _, records in sorted(by_shard.items())
        for i in range(0, len(records), batch_size)
    ]


def _record(payload: bytes, key: str, shard: str, sequence: str, arrival: float) -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": key,
            "sequenceNumber": sequence,
            "data": base64.b64encode(payload).decode("ascii"),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{sequence}",
        "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/auxeira-events-bench",
    }


def bench_archive(root: Path, rows: list[tuple[bytes, str, float]]) -> tuple[float, int]:
    """(seconds, failed records) of archiving every batch twice."""
    cut = batches(rows, mapping("archiver").batch_size)
    started = time.perf_counter()
    failed = archive(LocalObjects(root), cut, deliveries=2)
    return time.perf_counter() - started, failed


def bench_spark(root: Path, tokenizer: Tokenizer) -> tuple[float, dict[str, Any], float]:
    """(seconds of raw_to_curated, its result, seconds of reading and parsing alone)."""
    spark = local_session("bench-lake")
    configure(spark)
    spark.range(1).count()  # the JVM and the session warm before the clock starts
    started = time.perf_counter()
    result = spark_engine.raw_to_curated(spark, LocalObjects(root), tokenizer)
    seconds = time.perf_counter() - started
    objects = LocalObjects(root)
    paths = [lake_path(objects, o.key) for o in list_raw_objects(objects)]
    started = time.perf_counter()
    parsed = spark_engine.parse_lines(spark_engine.read_text(spark, paths)).drop(spark_engine.LINE)
    parsed.write.format("noop").mode("overwrite").save()
    floor = time.perf_counter() - started
    spark.stop()
    return seconds, result.as_dict(), floor


def bench_arrow_hourly(raw_root: Path, root: Path, tokenizer: Tokenizer) -> tuple[float, dict[str, int], int]:
    """(seconds of every run, rows per table, runs): raw hour folders linked in one at a time."""
    objects, source = LocalObjects(root), LocalObjects(raw_root)
    hours: dict[str, list[str]] = {}
    for key in source.list(f"{LAKE.raw}/"):
        hours.setdefault(key.rsplit("/", 1)[0], []).append(key)
    seconds, rows, duplicates = 0.0, Counter[str](), 0
    for folder in sorted(hours):
        for key in hours[folder]:
            target = root / key
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(raw_root / key, target)
        started = time.perf_counter()
        result = arrow_engine.raw_to_curated(objects, tokenizer)
        seconds += time.perf_counter() - started
        rows.update(result.rows)
        duplicates += result.duplicates
    return seconds, dict(rows), len(hours)


def files_per_partition(root: Path) -> int:
    objects, most = LocalObjects(root), 0
    for table in curated_tables():
        for dt in {k.removeprefix(table.location).split("/", 1)[0] for k in objects.list(table.location)}:
            if dt.startswith("dt="):
                most = max(most, len(partition_files(objects, table, dt.removeprefix("dt="))))
    return most


def _profiled(connection: Any, sql: str, profile: Path) -> tuple[list[tuple[Any, ...]], int]:
    """The query's rows and the bytes DuckDB read to answer it (its profiler's ``io``)."""
    connection.execute("SET enable_profiling = 'json'")
    connection.execute(f"SET profiling_output = '{profile}'")
    rows = connection.execute(sql).fetchall()
    connection.execute("SET enable_profiling = 'no_output'")
    return rows, int(orjson.loads(profile.read_bytes())["io"]["total_bytes_read"])


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    def plain(v: Any) -> Any:
        if isinstance(v, (float, Decimal)):
            return round(float(v), 6)
        return v

    return [tuple(map(plain, r)) for r in a] == [tuple(map(plain, r)) for r in b]


def bench_scan(root: Path, tmp: Path) -> tuple[int, int, int, list[str]]:
    """(Parquet bytes read, raw bytes read, queries with equal answers, queries that differ)."""
    import duckdb

    curated = DuckDbEngine(root).connection
    raw = duckdb.connect()
    raw_views(raw, root)
    parquet_bytes = raw_bytes = same = 0
    differ = []
    for query in pack():
        got, n = _profiled(curated, query.sql, tmp / "curated.json")
        want, m = _profiled(raw, query.sql, tmp / "raw.json")
        parquet_bytes, raw_bytes = parquet_bytes + n, raw_bytes + m
        _out(f"    {query.name:<28} {len(got):>6} rows  parquet {n:>12,} B  raw json {m:>14,} B")
        if _same(got, want):
            same += 1
        else:
            differ.append(query.name)
    return parquet_bytes, raw_bytes, same, differ


def duplicates(root: Path) -> tuple[int, int]:
    """(curated rows, rows minus distinct event ids) over every curated table."""
    engine, rows, extra = DuckDbEngine(root), 0, 0
    for table in curated_tables():
        column = table.envelope["event_id"]
        [(n, distinct)] = engine.run(f'SELECT count(*), count(DISTINCT "{column}") FROM "{table.name}"').rows
        rows, extra = rows + n, extra + n - distinct
    return rows, extra


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    tokenizer = Tokenizer(LOCAL_DEVELOPMENT_KEY)

    started = time.perf_counter()
    rows, clones = dataset(args.events)
    events = len(rows)
    _out(f"built {events:,} envelopes ({clones} tenant groups) in {time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        spark_root, arrow_root = tmp / "spark-lake", tmp / "arrow-lake"
        seconds, failed = bench_archive(spark_root, rows)
        if failed:
            raise RuntimeError(f"the archiver failed {failed} records")
        del rows
        gc.collect()
        raw = LocalObjects(spark_root)
        raw_keys = list(raw.list(f"{LAKE.raw}/"))
        raw_size = sum((spark_root / k).stat().st_size for k in raw_keys)
        _out(
            f"(a) archive    {events / seconds:>10,.0f} events/s delivered twice; {len(raw_keys)} objects, {raw_size:,} B"
        )

        spark_seconds, spark_result, floor_seconds = bench_spark(spark_root, tokenizer)
        spark_rows = sum(spark_result["rows"].values())
        _out(f"(b) spark      {events / spark_seconds:>10,.0f} rows/s ({spark_rows:,} rows in {spark_seconds:.1f} s)")
        _out(
            f"    read+parse {events / floor_seconds:>10,.0f} rows/s alone ({floor_seconds:.1f} s, no columns, no writes)"
        )

        arrow_seconds, arrow_rows, runs = bench_arrow_hourly(spark_root, arrow_root, tokenizer)
        _out(f"(c) arrow      {events / arrow_seconds:>10,.0f} rows/s ({runs} hourly runs, {arrow_seconds:.1f} s)")
        if arrow_rows != spark_result["rows"]:
            _out(f"    rows differ: spark {spark_result['rows']} arrow {arrow_rows}")
        before = files_per_partition(arrow_root)
        compacted = compact(LocalObjects(arrow_root))
        after = max(files_per_partition(arrow_root), files_per_partition(spark_root))
        _out(f"    compact: {compacted.objects} files rewritten; files per partition {before} -> {after}")

        # The pack reads current tables too (pyarrow's current_state: the same rows as Spark's).
        arrow_engine.current_state(LocalObjects(spark_root))
        parquet_bytes, raw_bytes, same, differ = bench_scan(spark_root, tmp)
        ratio = parquet_bytes / raw_bytes if raw_bytes else 0.0
        _out(f"(d) scan       parquet {parquet_bytes:,} B vs raw json {raw_bytes:,} B: {ratio:.5f}")
        _out(f"    answers equal over Parquet and raw JSON: {same}/{same + len(differ)} {differ or ''}")

        curated_rows, extra = duplicates(spark_root)
        arrow_curated, arrow_extra = duplicates(arrow_root)
        _out(f"(e) curated    {curated_rows:,} rows, {extra} duplicates (arrow lake: {arrow_curated:,}, {arrow_extra})")
    line = {
        "bench": "lake",
        "events": events,
        "spark_rows_per_s": round(events / spark_seconds),
        "arrow_rows_per_s": round(events / arrow_seconds),
        "scan_ratio_vs_raw": round(ratio, 5),
        "duplicates_in_curated": extra + arrow_extra,
        "files_per_partition_after_compact": after,
    }
    print(orjson.dumps(line).decode(), flush=True)
    return line


if __name__ == "__main__":
    main()
