"""Glue job ``raw_to_curated``: raw events -> typed curated Parquet (hourly).

``spark-submit glue_jobs/raw_to_curated.py --lake-root lake [--from D --to D] [--mark processed|unprocessed]``
runs it locally, unchanged; on AWS Glue 5.0 the same script runs with the job's default
arguments (:data:`glue_jobs.catalog.GLUE_JOBS`). Flags: :mod:`glue_jobs.job_args`; what it
does: :mod:`glue_jobs.spark_engine` (``--engine arrow``: :mod:`glue_jobs.arrow_engine`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import orjson

from glue_jobs import arrow_engine, spark_engine
from glue_jobs._runtime import get_spark, lake_store
from glue_jobs.job_args import parse_job_args
from glue_jobs.pii import Tokenizer, resolve_key
from glue_jobs.runs import Progress, RunResult, quiet
from glue_jobs.state import mark_window

__all__ = ["main", "run"]


def run(argv: Sequence[str], progress: Progress = quiet) -> RunResult:
    args = parse_job_args(argv)
    objects = lake_store(args.lake_root)
    if args.mark is not None:
        assert args.start is not None and args.end is not None
        return mark_window(objects, args.start, args.end, processed=args.mark == "processed")
    tokenizer = Tokenizer(resolve_key(args.lake_root, args.pii_key, args.pii_key_secret))
    if args.engine == "arrow":
        return arrow_engine.raw_to_curated(objects, tokenizer, start=args.start, end=args.end, progress=progress)
    spark = get_spark("raw_to_curated", argv)
    return spark_engine.raw_to_curated(spark, objects, tokenizer, start=args.start, end=args.end, progress=progress)


def main(argv: Sequence[str] | None = None) -> RunResult:
    result = run(list(sys.argv if argv is None else argv))
    sys.stdout.write(orjson.dumps(result.as_dict()).decode() + "\n")
    return result


if __name__ == "__main__":
    main()
