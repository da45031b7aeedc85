"""What every Glue script needs, the same locally and on AWS Glue 5.0.

* :func:`resolve_args`: ``--name value`` flags through ``awsglue.utils.getResolvedOptions``
  when ``awsglue`` is importable (the ``awsgluedataplanepython`` wheel has it locally too;
  it needs no JVM), argparse otherwise. ``getResolvedOptions`` knows no optional flags,
  so only the optional ones present on the command line are asked of it.
* :func:`get_spark`: on Glue (it passes ``--JOB_RUN_ID``) the GlueContext's session;
  elsewhere a local SparkSession sized for this machine. ``GlueContext`` needs Glue's jar,
  which plain pyspark lacks (``'JavaPackage' object is not callable``).
* :func:`lake_store`: the object store of the lake root (a directory or ``s3://``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from auxeira.runtime.objects import ObjectStore, object_store

__all__ = ["get_spark", "lake_path", "lake_store", "on_glue", "resolve_args"]


def on_glue(argv: Sequence[str] | None = None) -> bool:
    """True inside an AWS Glue job run (Glue passes ``--JOB_RUN_ID`` to every script)."""
    return "--JOB_RUN_ID" in (sys.argv if argv is None else argv)


def resolve_args(
    argv: Sequence[str], required: Sequence[str], optional: Mapping[str, str | None]
) -> dict[str, str | None]:
    """``{name: value}`` of the job's flags (names as written, ``lake-root``), defaults filled.

    Args:
        argv: ``sys.argv`` (the program name first, as Glue passes it).
        required: flags every run must give.
        optional: flags that may be left out, with their defaults.

    Raises:
        ValueError: a required flag is missing (the message names it), from either parser.
    """
    present = [name for name in optional if f"--{name}" in argv]
    try:
        from awsglue.utils import GlueArgumentError, getResolvedOptions
    except ImportError:
        parsed = _argparse(argv, required, optional)
    else:
        try:
            resolved = getResolvedOptions(list(argv), [*required, *present])
        except GlueArgumentError as exc:
            raise ValueError(str(exc)) from None
        parsed = {name: resolved.get(name, resolved.get(name.replace("-", "_"))) for name in [*required, *present]}
    return {**dict(optional), **{k: v for k, v in parsed.items() if v is not None}}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit
        raise ValueError(message)


def _argparse(argv: Sequence[str], required: Sequence[str], optional: Mapping[str, str | None]) -> dict[str, Any]:
    parser = _Parser(allow_abbrev=False)
    for name in required:
        parser.add_argument(f"--{name}", required=True, dest=name)
    for name, default in optional.items():
        parser.add_argument(f"--{name}", default=default, dest=name)
    known, _ = parser.parse_known_args(list(argv[1:]))
    return vars(known)


def get_spark(app: str, argv: Sequence[str] | None = None) -> Any:
    """The Spark session of a job run (see the module docstring)."""

    if on_glue(argv):
        from awsglue.context import GlueContext
        from pyspark.context import SparkContext

        spark = GlueContext(SparkContext.getOrCreate()).spark_session
    else:
        spark = local_session(app)
    configure(spark)
    return spark


def local_session(app: str, cores: int | None = None, memory: str = "4g") -> Any:
    """A local SparkSession: every core, no UI, few shuffle partitions (small machines)."""
    from pyspark.sql import SparkSession

    n = cores or os.cpu_count() or 2
    return (
        SparkSession.builder.appName(app)
        .master(f"local[{n}]")
        .config("spark.driver.memory", memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(max(2, n * 2)))
        .config("spark.default.parallelism", str(max(2, n * 2)))
        .config("spark.sql.adaptive.enabled", "true")
        .getOrCreate()
    )


def configure(spark: Any) -> None:
    """Settings the jobs rely on, on Glue and locally."""
    conf = spark.conf
    conf.set("spark.sql.session.timeZone", "UTC")  # timestamps are UTC wall clock (timestamp_ntz)
    conf.set("spark.sql.parquet.compression.codec", "snappy")
    conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    conf.set("spark.sql.ansi.enabled", "false")  # casts that do not fit give null (the lost rows)
    spark.sparkContext.setLogLevel("ERROR")


def lake_store(lake_root: str, s3_client: Any = None) -> ObjectStore:
    """The lake's object store; a local root is made absolute (Spark paths are absolute)."""
    if not lake_root.startswith("s3://"):
        lake_root = str(Path(lake_root).absolute())
    return object_store(lake_root, s3_client)


def lake_path(objects: ObjectStore, key: str) -> str:
    """The path Spark reads and writes for a key of the store (a file path, or ``s3://``)."""
    return f"{objects.root.rstrip('/')}/{key}"
