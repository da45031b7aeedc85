"""Glue job ``current_state``: curated -> the latest state per entity key (daily).

``spark-submit glue_jobs/current_state.py --lake-root lake`` locally; on Glue with
``--glue-database`` it also points each current table at the snapshot it published.
What it does: :func:`glue_jobs.spark_engine.current_state` (``--engine arrow``:
:func:`glue_jobs.arrow_engine.current_state`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import orjson

from glue_jobs import arrow_engine, spark_engine
from glue_jobs._runtime import get_spark, lake_store
from glue_jobs.job_args import parse_job_args
from glue_jobs.runs import Progress, Publish, RunResult, quiet

__all__ = ["main", "run"]


def run(argv: Sequence[str], progress: Progress = quiet) -> RunResult:
    args = parse_job_args(argv)
    objects = lake_store(args.lake_root)
    publish: Publish | None = None
    if args.glue_database:
        import boto3

        from glue_jobs.catalog_sync import snapshot_publisher

        publish = snapshot_publisher(boto3.client("glue"), args.glue_database, args.lake_root)
    if args.engine == "arrow":
        return arrow_engine.current_state(objects, progress=progress, on_publish=publish)
    spark = get_spark("current_state", argv)
    return spark_engine.current_state(spark, objects, progress=progress, on_publish=publish)


def main(argv: Sequence[str] | None = None) -> RunResult:
    result = run(list(sys.argv if argv is None else argv))
    sys.stdout.write(orjson.dumps(result.as_dict()).decode() + "\n")
    return result


if __name__ == "__main__":
    main()
