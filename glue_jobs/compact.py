"""Glue job ``compact``: each curated partition's small files rewritten into ~128 MiB files (daily).

``spark-submit glue_jobs/compact.py --lake-root lake [--target-file-mb 128]`` locally, the
same on Glue. What it does and why it needs no Spark: :mod:`glue_jobs.compaction`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import orjson

from glue_jobs._runtime import lake_store
from glue_jobs.compaction import compact
from glue_jobs.job_args import parse_job_args
from glue_jobs.runs import Progress, RunResult, quiet

__all__ = ["main", "run"]


def run(argv: Sequence[str], progress: Progress = quiet) -> RunResult:
    args = parse_job_args(argv)
    return compact(lake_store(args.lake_root), target_bytes=args.target_file_mb * 2**20, progress=progress)


def main(argv: Sequence[str] | None = None) -> RunResult:
    result = run(list(sys.argv if argv is None else argv))
    sys.stdout.write(orjson.dumps(result.as_dict()).decode() + "\n")
    return result


if __name__ == "__main__":
    main()
