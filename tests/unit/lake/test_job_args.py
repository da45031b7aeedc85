"""The jobs' flags: ``awsglue.utils.getResolvedOptions`` when ``awsglue`` is importable (the
``awsgluedataplanepython`` wheel of requirements/dev.lock), argparse otherwise; same flags,
same values."""

from __future__ import annotations

import builtins
import sys
from datetime import date
from pathlib import Path

import pytest

from glue_jobs import _runtime
from glue_jobs.job_args import parse_job_args

ARGV = [
    "raw_to_curated.py",
    "--lake-root",
    "s3://bucket/lake",
    "--env",
    "prod",
    "--from",
    "2026-01-01",
    "--to",
    "2026-01-03",
    "--pii-key-secret",
    "auxeira/pii-key",
]
#: What Glue itself adds to every script's arguments.
GLUE_ARGV = [*ARGV, "--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_1", "--job-bookmark-option", "job-bookmark-disable"]


@pytest.fixture
def without_awsglue(monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "awsglue" or name.startswith("awsglue."):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    for name in [n for n in sys.modules if n == "awsglue" or n.startswith("awsglue.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", refuse)


def test_awsglue_is_locked_for_development_and_importable_here():
    lock = (Path(__file__).parents[3] / "requirements" / "dev.lock").read_text()
    assert "awsgluedataplanepython==" in lock
    from awsglue.utils import getResolvedOptions

    assert getResolvedOptions(["x", "--lake-root", "r", "--JOB_RUN_ID", "jr_1"], ["lake-root"])["lake_root"] == "r"


def test_getresolvedoptions_resolves_the_flags_when_awsglue_is_there(monkeypatch):
    import awsglue.utils

    asked: list[list[str]] = []
    real = awsglue.utils.getResolvedOptions

    def spy(argv, options):
        asked.append(list(options))
        return real(argv, options)

    monkeypatch.setattr(awsglue.utils, "getResolvedOptions", spy)
    args = parse_job_args(GLUE_ARGV)
    # only the flags present are asked of it (it knows no optional ones), Glue's own flags ignored
    assert asked == [["lake-root", "env", "pii-key-secret", "from", "to"]]
    assert (args.lake_root, args.env, args.start, args.end) == (
        "s3://bucket/lake",
        "prod",
        date(2026, 1, 1),
        date(2026, 1, 3),
    )
    assert (args.pii_key_secret, args.engine, args.target_file_mb, args.mark) == ("auxeira/pii-key", "spark", 128, None)


@pytest.mark.parametrize("argv", [GLUE_ARGV, ARGV, ["job.py", "--lake-root", "lake", "--engine", "arrow"]])
def test_argparse_gives_the_same_values_when_awsglue_is_not_importable(argv, request):
    with_glue = parse_job_args(argv)
    request.getfixturevalue("without_awsglue")
    with pytest.raises(ImportError):
        import awsglue.utils  # noqa: F401
    assert parse_job_args(argv) == with_glue


@pytest.mark.parametrize("glue", [True, False])
def test_a_missing_required_flag_is_named(glue, request):
    if not glue:
        request.getfixturevalue("without_awsglue")
    with pytest.raises(ValueError, match=r"lake-root|lake_root"):
        parse_job_args(["job.py", "--env", "prod"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--from", "2026-01-01"], "go together"),
        (["--from", "2026-01-03", "--to", "2026-01-01"], "before"),
        (["--mark", "processed"], "needs a window"),
        (["--from", "2026-01-01", "--to", "2026-01-01", "--mark", "maybe"], "processed or unprocessed"),
        (["--engine", "pandas"], "spark or arrow"),
    ],
)
def test_inconsistent_flags_are_refused(argv, message):
    with pytest.raises(ValueError, match=message):
        parse_job_args(["job.py", "--lake-root", "lake", *argv])


def test_a_window_can_set_or_reset_the_state():
    args = parse_job_args(
        ["job.py", "--lake-root", "l", "--from", "2026-01-01", "--to", "2026-01-02", "--mark", "unprocessed"]
    )
    assert (args.start, args.end, args.mark) == (date(2026, 1, 1), date(2026, 1, 2), "unprocessed")


def test_the_session_is_glues_only_inside_a_glue_run():
    assert _runtime.on_glue(GLUE_ARGV) and not _runtime.on_glue(ARGV)
