"""The lake jobs in Spark: what the Glue scripts run, the same steps as :mod:`glue_jobs.arrow_engine`.

``raw_to_curated``, in this order:

1. list the raw objects to read and the state, as the local engine does (object store);
2. read them as text, parse each line once with the envelope's schema and ``after`` as
   ``map<string,string>``, keep the parse in memory, without the lines themselves (as
   large again as the parse): each row keeps the path of its object instead;
3. one aggregation: rows and distinct ``event_id`` per entity and ``dt``;
4. check every touched table's schema (a refused change stops the run before writes);
5. per entity (two at a time): drop duplicate ids (only where step 3 found some), compute the columns
   (:func:`marked_frame`: native expressions; the rows they cannot be sure of, rare, are
   read again from their objects and computed by the reference), drop
   ids the touched partitions already hold, append the rest (``partitionBy("dt")``);
6. record the schemas, mark the objects processed.

``current_state``: per entity, the latest row per key by ``_order`` (a window), removals
dropped, ``is_deleted`` from ``deleted_at``, written to a new snapshot folder, then the
pointer flipped (:mod:`glue_jobs.snapshots`).

Everything Spark-specific is imported inside the functions.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from auxeira.runtime.objects import ObjectStore
from glue_jobs import snapshots
from glue_jobs._runtime import lake_path
from glue_jobs.evolution import check_schema, record_schema
from glue_jobs.flatten import flatten
from glue_jobs.parquet_io import partition_files, table_files
from glue_jobs.pii import Tokenizer
from glue_jobs.raw_format import list_raw_objects, payload
from glue_jobs.runs import Progress, Publish, RunResult, quiet
from glue_jobs.spark_columns import ColumnBuilder, spark_type, unknown_keys, utc_timestamp
from glue_jobs.state import ProcessedObjects
from glue_jobs.tables import DT, EXTRA, IS_DELETED, ORDER, LakeTable, curated_table, curated_tables, current_tables
from glue_jobs.values import ISO_TIMESTAMP
from schemas.envelope import SEQUENCE_DIGITS, decode

__all__ = [
    "curated_frame",
    "current_frame",
    "current_state",
    "line_schema",
    "marked_frame",
    "parse_lines",
    "raw_to_curated",
    "read_text",
]

_EVENT_TYPE = r"^[a-z][a-z0-9_]*\.[a-z_]+$"
_SCHEMA_MAJOR_1 = r"^1(\.[0-9]+)?$"
LINE = "_line"
#: The path of the raw object a row was read from (Spark's ``_metadata.file_path``).
SOURCE_FILE = "_source_file"
ENVELOPE_NAMES = ("event_id", "event_type", "version", "occurred_at", "tenant_id", "key", "actor")


def line_schema() -> Any:
    """A raw line: arrival metadata and the envelope, ``after`` as a map of texts."""
    from pyspark.sql import types as T

    s = T.StringType()
    source = T.StructType([T.StructField(n, s) for n in ("table", "sequence_number", "publisher")])
    data = T.StructType(
        [
            *(T.StructField(n, s) for n in ("event_id", "event_type", "schema_version", "tenant_id", "entity", "key")),
            T.StructField("version", T.DecimalType(20, 0)),
            T.StructField("source", source),
            T.StructField("occurred_at", s),
            T.StructField("actor", s),
            T.StructField("after", T.MapType(s, s)),
        ]
    )
    return T.StructType([T.StructField("arrival", T.DoubleType()), T.StructField("data", data)])


def parse_lines(lines: Any) -> Any:
    """Raw lines (a ``value`` column) to one row per envelope: header columns, ``after``,
    ``dt``, ``_header_lost`` (the envelope needs the reference to be read), the line
    (``_line``: no entity field starts with ``_``) and the other columns of ``lines``."""
    from pyspark.sql import functions as F

    kept = [c for c in lines.columns if c != "value"]
    parsed = lines.select(F.from_json("value", line_schema()).alias("l"), F.col("value").alias(LINE), *kept)
    d = F.col("l.data")
    occurred = F.when(d.occurred_at.rlike(f"^(?:{ISO_TIMESTAMP.pattern})$"), utc_timestamp(d.occurred_at))
    lost = (
        d.isNull()
        | d.event_id.isNull()
        | ~F.coalesce(d.event_type.rlike(_EVENT_TYPE), F.lit(False))
        | F.coalesce(d.tenant_id, F.lit("")).eqNullSafe("")
        | d.entity.isNull()
        | F.coalesce(d.key, F.lit("")).eqNullSafe("")
        | d.version.isNull()
        | (d.version < 0)
        | occurred.isNull()
        | ~F.coalesce(d.schema_version.rlike(_SCHEMA_MAJOR_1), F.lit(True))
    )
    return parsed.select(
        d.event_id.alias("event_id"),
        d.event_type.alias("event_type"),
        d.tenant_id.alias("tenant_id"),
        d.entity.alias("entity"),
        d.key.alias("key"),
        d.version.alias("version"),
        occurred.alias("occurred_at"),
        d.actor.alias("actor"),
        _order(d.version, d.source.sequence_number).alias(ORDER),
        d.after.alias("after"),
        F.date_format(occurred, "yyyy-MM-dd").alias(DT),
        F.coalesce(lost, F.lit(True)).alias("_header_lost"),
        LINE,
        *kept,
    )


def _order(version: Any, sequence: Any) -> Any:
    """``schemas.envelope.order_of`` as 60 digits: 20 of version, 40 of stream sequence."""
    from pyspark.sql import functions as F

    digits = F.coalesce(sequence.rlike("^[0-9]+$"), F.lit(False))
    position = (
        F.when(~digits, F.lit("0" * SEQUENCE_DIGITS))
        .when(F.length(sequence) > SEQUENCE_DIGITS, F.lit("9" * SEQUENCE_DIGITS))
        .otherwise(F.lpad(sequence, SEQUENCE_DIGITS, "0"))
    )
    return F.concat(F.lpad(version.cast("string"), 20, "0"), position)


def marked_frame(rows: Any, table: LakeTable, tokenizer: Tokenizer) -> Any:
    """One entity's rows with their native columns, ``_lost`` (the reference must compute
    this row) and where the row came from (``_line`` and ``_source_file``, those ``rows`` has)."""
    from pyspark.sql import functions as F

    after = F.col("after")
    names = table.envelope
    values = [F.col(field).alias(names[field]) for field in ENVELOPE_NAMES]
    lost = F.col("_header_lost") | unknown_keys(after, sorted(table.known))
    builder = ColumnBuilder(tokenizer)
    for column in table.fields:
        value, column_lost = builder.column(column, after.getItem(column.name))
        values.append(value.cast(spark_type(column.type)).alias(column.name))
        lost = lost | F.coalesce(column_lost, F.lit(False))
    values += [F.lit(None).cast("string").alias(EXTRA), F.col(ORDER), F.col(DT)]
    for stage in builder.stages():
        rows = rows.select("*", *stage)
    # ``_lost`` is made nondeterministic (``spark_partition_id() < 0`` is never true): Spark
    # would otherwise push the two filters on it below the projections, copying the whole
    # expression, parses included, into each (a startup's row was parsed 1,100 times).
    lost = lost | (F.spark_partition_id() < 0)
    return rows.select(*values, lost.alias("_lost"), *[c for c in (LINE, SOURCE_FILE) if c in rows.columns])


def curated_frame(rows: Any, table: LakeTable, tokenizer: Tokenizer, *, reference_only: bool = False) -> Any:
    """The curated rows of one entity from :func:`parse_lines` rows: native columns where
    sure, the reference (:func:`glue_jobs.flatten.flatten`) for the lost rows (for every
    row with ``reference_only``, which the tests compare with the native path)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    frame = marked_frame(rows, table, tokenizer)
    if reference_only:
        frame = frame.withColumn("_lost", F.lit(True))
    fields = [T.StructField(c.name, spark_type(c.type)) for c in table.columns]
    schema = T.StructType([*fields, T.StructField(DT, T.StringType())])
    fast = frame.filter(~F.col("_lost")).drop("_lost", LINE, SOURCE_FILE)
    # Nondeterministic too, so the UDF runs once per row, not once per field read.
    reference = F.udf(_reference_row(table, tokenizer, schema.fieldNames()), schema).asNondeterministic()
    slow = frame.filter(F.col("_lost")).select(reference(LINE).alias("r"))
    slow = slow.filter(F.col("r").isNotNull()).select("r.*")
    return fast.unionByName(slow)


def _reference_row(table: LakeTable, tokenizer: Tokenizer, names: list[str]) -> Any:
    def row(line: str) -> tuple[Any, ...] | None:
        try:
            envelope = decode(payload(line.encode("utf-8")))
        except ValueError:
            return None
        flat = flatten(table, envelope, tokenizer)
        return tuple(flat.get(n) for n in names)

    return row


def raw_to_curated(
    spark: Any,
    objects: ObjectStore,
    tokenizer: Tokenizer,
    *,
    start: date | None = None,
    end: date | None = None,
    progress: Progress = quiet,
) -> RunResult:
    """Raw events to curated Parquet with Spark (steps in the module docstring)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    result = RunResult("raw_to_curated", "spark")
    state = ProcessedObjects(objects)
    raw = list_raw_objects(objects, start, end)
    todo = raw if (start or end) else state.unprocessed(raw)
    if not todo:
        return result
    # Cached grouped by entity: each batch of the cache holds one entity, so the per-entity
    # scans below skip the others' batches (the cache keeps min/max per batch). The lines
    # stay out of it: they would double it, for the few rows the reference computes.
    parsed = parse_lines(read_text(spark, [lake_path(objects, o.key) for o in todo]))
    rows = parsed.drop(LINE).sortWithinPartitions("entity").persist(StorageLevel.MEMORY_AND_DISK)
    try:
        stats = rows.groupBy("entity", DT).agg(F.count(F.lit(1)).alias("n"), F.countDistinct("event_id").alias("ids"))
        counts = stats.collect()
        tables = {t.entity: t for t in curated_tables()}
        entities = sorted({r["entity"] for r in counts if r["entity"] in tables})
        result.objects, result.events = len(todo), sum(r["n"] for r in counts)
        result.unrouted = sum(r["n"] for r in counts if r["entity"] not in tables)
        for entity in entities:
            check_schema(objects, tables[entity])

        def write(entity: str) -> int:
            mine = [r for r in counts if r["entity"] == entity]
            # Few tasks per entity: each task sets up the entity's projections (for a wide
            # table, a large generated class) even when its part of the cache holds none of it.
            tasks = min(spark.sparkContext.defaultParallelism, -(-sum(r["n"] for r in mine) // ROWS_PER_TASK))
            part = rows.filter(F.col("entity") == entity).coalesce(max(1, tasks))
            if any(r["n"] != r["ids"] for r in mine):
                part = part.dropDuplicates(["event_id"])
            return _write_entity(spark, objects, tables[entity], part, [r[DT] for r in mine], tokenizer)

        # A few entities in flight at once: each is two small jobs with driver work (planning,
        # code generation) between and around them, which leaves the cores idle when run one
        # by one. Results are taken in entity order, as before.
        pool = ThreadPoolExecutor(max_workers=ENTITIES_IN_FLIGHT, thread_name_prefix="raw_to_curated")
        try:
            futures = [pool.submit(write, entity) for entity in entities]
            for done, (entity, future) in enumerate(zip(entities, futures, strict=True), 1):
                table = tables[entity]
                written = future.result()
                result.rows[table.name] = written
                # Copies within the run, and events the partitions already held.
                result.duplicates += sum(r["n"] for r in counts if r["entity"] == entity) - written
                record_schema(objects, table)
                progress(done, len(entities), table.name)
        finally:
            # A failed entity stops the run: the entities not started yet are not written.
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        rows.unpersist()
    state.mark(todo)
    return result


#: Entities written at the same time by :func:`raw_to_curated`.
ENTITIES_IN_FLIGHT = 2
#: Rows of one entity per task when it is written (at most ``spark.default.parallelism`` tasks).
ROWS_PER_TASK = 50_000
#: Spark lists more paths than this with a job of one task per path (758 tasks, 6 s on a
#: 2-core machine for 200,000 events); the driver lists a run's objects faster itself.
_PARALLEL_LISTING = "spark.sql.sources.parallelPartitionDiscovery.threshold"


def read_text(spark: Any, paths: list[str]) -> Any:
    """The lines of the raw objects (``value``) and the path of each one's object
    (``_source_file``), the paths listed on the driver."""
    from pyspark.sql import functions as F

    conf = spark.conf
    before = conf.get(_PARALLEL_LISTING)
    conf.set(_PARALLEL_LISTING, str(max(int(before), len(paths) + 1)))
    try:
        text = spark.read.text(paths)
    finally:
        conf.set(_PARALLEL_LISTING, before)
    return text.select("value", F.col("_metadata.file_path").alias(SOURCE_FILE))


#: Lost rows up to this many are computed on the driver; more go through a Python UDF.
DRIVER_REFERENCE_ROWS = 20_000


def _write_entity(
    spark: Any, objects: ObjectStore, table: LakeTable, part: Any, dts: list[str], tokenizer: Tokenizer
) -> int:
    """Write one entity's rows; returns how many. In this order:

    1. the native rows, counting the lost ones on the way (one pass: no lost rows, which is
       the common case, costs nothing more);
    2. only if some were lost: those rows through the reference, on the driver when few.
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    marked = marked_frame(part, table, tokenizer)
    seen = Observation(f"lost_{table.entity}_{id(marked)}")
    observed = marked.observe(seen, F.sum(F.col("_lost").cast("int")).alias("lost"))
    written = _append(spark, objects, table, observed.filter(~F.col("_lost")).drop("_lost", LINE, SOURCE_FILE), dts)
    lost = int(seen.get.get("lost") or 0)
    if lost:
        lines = _lost_lines(spark, marked, table)
        written += _append(spark, objects, table, _reference_frame(spark, lines, table, tokenizer, lost), dts)
    return written


def _lost_lines(spark: Any, marked: Any, table: LakeTable) -> Any:
    """The raw lines (``_line``) of the lost rows of ``marked``, one per event id: read again
    from the objects that hold them, as the cache keeps no lines."""
    from pyspark.sql import functions as F

    lost = marked.filter(F.col("_lost"))
    ids = lost.select(F.col(table.envelope["event_id"]).alias("event_id"), SOURCE_FILE)
    files = sorted(r[SOURCE_FILE] for r in ids.select(SOURCE_FILE).distinct().collect())
    again = parse_lines(read_text(spark, files)).filter(F.col("entity") == table.entity)
    # A row's copies (redelivered, in one object or two) are one event: one line each.
    again = again.join(F.broadcast(ids.select("event_id").distinct()), on="event_id", how="left_semi")
    return again.dropDuplicates(["event_id"]).select(LINE)


def _reference_frame(spark: Any, lines: Any, table: LakeTable, tokenizer: Tokenizer, lost: int) -> Any:
    """The lost rows (their ``lines``) computed by the reference (on the driver when few, else in a UDF)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    fields = [T.StructField(c.name, spark_type(c.type)) for c in table.columns]
    schema = T.StructType([*fields, T.StructField(DT, T.StringType())])
    reference = _reference_row(table, tokenizer, schema.fieldNames())
    if lost <= DRIVER_REFERENCE_ROWS:
        computed = [row for row in (reference(r[LINE]) for r in lines.collect()) if row is not None]
        return spark.createDataFrame(computed, schema)
    udf = F.udf(reference, schema).asNondeterministic()
    return lines.select(udf(LINE).alias("r")).filter(F.col("r").isNotNull()).select("r.*")


def _append(spark: Any, objects: ObjectStore, table: LakeTable, frame: Any, dts: list[str]) -> int:
    """Append rows to the table (those the touched partitions do not hold yet); returns how many."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    frame = _without_existing(spark, objects, table, frame, dts)
    counted = Observation(f"rows_{table.entity}_{id(frame)}")
    frame = frame.observe(counted, F.count(F.lit(1)).alias("rows"))
    # One task per dt: one file per partition and run (without it every task writes a
    # file into every dt it holds: thousands of small files per run).
    frame = frame.repartition(F.col(DT))
    frame.write.mode("append").partitionBy(DT).parquet(lake_path(objects, table.location))
    # Spark drops the metrics of a plan it found empty (adaptive execution): then none were written.
    return int(counted.get.get("rows") or 0)


def _without_existing(spark: Any, objects: ObjectStore, table: LakeTable, frame: Any, dts: list[str]) -> Any:
    """``frame`` without the events the touched partitions already hold."""
    from pyspark.sql import functions as F

    id_column = table.envelope["event_id"]
    files = [lake_path(objects, k) for dt in dts if dt for k in partition_files(objects, table, dt)]
    if not files:
        return frame
    existing = spark.read.parquet(*files).select(id_column).distinct()
    return frame.join(F.broadcast(existing), on=id_column, how="left_anti")


def current_frame(curated: Any, source: LakeTable, table: LakeTable) -> Any:
    """The current table's rows from one entity's curated rows."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key, tenant = source.envelope["key"], source.envelope["tenant_id"]
    identity = [key] if source.source == "table" else [tenant, key]
    window = Window.partitionBy(*identity).orderBy(F.col(ORDER).desc())
    latest = curated.withColumn("_rank", F.row_number().over(window)).filter(F.col("_rank") == 1)
    latest = latest.filter(~F.col(source.envelope["event_type"]).rlike(r"\.(deleted|expired)$"))
    deleted = F.col("deleted_at").isNotNull() if "deleted_at" in curated.columns else F.lit(False)
    latest = latest.withColumn(IS_DELETED, deleted)
    return latest.select(*[F.col(c.name).cast(spark_type(c.type)) for c in table.columns]).orderBy(tenant, key)


def current_state(
    spark: Any,
    objects: ObjectStore,
    *,
    entities: list[str] | None = None,
    progress: Progress = quiet,
    on_publish: Publish | None = None,
) -> RunResult:
    """Latest state per key, one new snapshot per current table (Spark); ``on_publish`` as
    in :func:`glue_jobs.arrow_engine.current_state`."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    result = RunResult("current_state", "spark")
    tables = [t for t in current_tables() if entities is None or t.entity in entities]
    for done, table in enumerate(tables, 1):
        source = curated_table(table.entity)
        files = table_files(objects, source)
        schema = T.StructType([T.StructField(c.name, spark_type(c.type)) for c in source.columns])
        curated = spark.read.schema(schema).parquet(*[lake_path(objects, f) for f in files]) if files else None
        frame = current_frame(curated, source, table) if curated is not None else _empty(spark, table)
        folder = snapshots.new_snapshot(table, salt=str(len(files)))
        observed = Observation(f"current_{table.entity}")
        frame = frame.observe(observed, F.count(F.lit(1)).alias("rows"))
        frame.coalesce(1).write.mode("overwrite").parquet(lake_path(objects, folder))
        rows = int(observed.get.get("rows") or 0)
        snapshots.publish(objects, table, folder, rows)
        if on_publish is not None:
            on_publish(table, folder)
        snapshots.expire(objects, table)
        result.objects += len(files)
        result.rows[table.name] = rows
        progress(done, len(tables), table.name)
    return result


def _empty(spark: Any, table: LakeTable) -> Any:
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField(c.name, spark_type(c.type)) for c in table.columns])
    return spark.createDataFrame([], schema)
