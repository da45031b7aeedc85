"""The flags every lake job takes, resolved the same way on Glue and with spark-submit.

==================  =====================================================================
``--lake-root``     the lake (``s3://bucket/prefix``, or a directory)
``--env``           the environment (``local`` by default)
``--glue-database`` the Glue database to keep current (current tables' locations); none: no catalog
``--pii-key-secret``  Secrets Manager id of the pii tokenization key (deployed jobs)
``--pii-key``       the key itself (tests, one-off runs)
``--from`` ``--to``  a window of days (``YYYY-MM-DD``, inclusive)
``--mark``          ``processed`` / ``unprocessed``: set or reset the window's state only
``--engine``        ``spark`` (the Glue job) or ``arrow`` (pyarrow alone, no JVM)
``--target-file-mb``  compaction's target file size
==================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from glue_jobs._runtime import resolve_args

__all__ = ["JobArgs", "parse_job_args"]

_OPTIONAL: dict[str, str | None] = {
    "env": "local",
    "glue-database": None,
    "pii-key-secret": None,
    "pii-key": None,
    "from": None,
    "to": None,
    "mark": None,
    "engine": "spark",
    "target-file-mb": "128",
}


@dataclass(frozen=True)
class JobArgs:
    lake_root: str
    env: str
    glue_database: str | None
    pii_key_secret: str | None
    pii_key: str | None
    start: date | None
    end: date | None
    mark: str | None
    engine: str
    target_file_mb: int


def parse_job_args(argv: Sequence[str]) -> JobArgs:
    """The job's flags from ``argv`` (the program name first)."""
    raw = resolve_args(argv, ["lake-root"], _OPTIONAL)
    start, end = _day(raw["from"]), _day(raw["to"])
    if (start is None) != (end is None):
        raise ValueError("--from and --to go together (a window of days, both inclusive)")
    if start is not None and end is not None and end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    if raw["mark"] not in (None, "processed", "unprocessed"):
        raise ValueError(f"--mark must be processed or unprocessed, not {raw['mark']!r}")
    if raw["mark"] is not None and start is None:
        raise ValueError("--mark needs a window (--from and --to)")
    if raw["engine"] not in ("spark", "arrow"):
        raise ValueError(f"--engine must be spark or arrow, not {raw['engine']!r}")
    return JobArgs(
        lake_root=str(raw["lake-root"]),
        env=str(raw["env"]),
        glue_database=raw["glue-database"] or None,
        pii_key_secret=raw["pii-key-secret"] or None,
        pii_key=raw["pii-key"] or None,
        start=start,
        end=end,
        mark=raw["mark"],
        engine=str(raw["engine"]),
        target_file_mb=int(str(raw["target-file-mb"])),
    )


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None
