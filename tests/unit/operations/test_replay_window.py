"""A replay's window: times as operators type them, its name in the checkpoint table, and which
source still holds it (Kinesis within retention, the lake beyond it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auxeira.operations.replay_window import RETENTION_MARGIN, StreamRetention, Window, choose_source, parse_time

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def retention(hours: int = 24, created: datetime | None = None) -> StreamRetention:
    return StreamRetention(
        "auxeira-events-t",
        "arn:aws:kinesis:us-east-1:1:stream/x",
        hours,
        created or NOW - timedelta(days=30),
        NOW - timedelta(hours=hours),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T10:00:00Z", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("2026-12-01 10:00", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("2026-12-01T11:00:00+01:00", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
    ],
)
def test_times_are_iso_8601_and_utc_when_no_zone_is_given(text, expected):
    assert parse_time(text) == expected


def test_a_time_that_is_not_iso_8601_is_refused_with_an_example():
    with pytest.raises(ValueError, match="2026-12-01T10:00:00Z"):
        parse_time("yesterday")


def test_the_window_names_its_replay_per_projection_without_colons_in_the_times():
    window = Window(parse_time("2026-12-01T10:00:00Z"), parse_time("2026-12-01T11:30:00.250Z"))
    assert window.consumer("cache") == "replay:cache:20261201T100000Z:20261201T113000.250Z"
    assert Window(parse_time("2026-12-01T10:00:00Z")).consumer("search") == "replay:search:20261201T100000Z:now"


def test_a_window_ending_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="--to"):
        Window(NOW, NOW - timedelta(seconds=1))


def test_a_window_ends_no_later_than_now():
    assert Window(NOW - timedelta(hours=1)).bounded(NOW) == NOW
    assert Window(NOW - timedelta(hours=2), NOW + timedelta(hours=1)).bounded(NOW) == NOW
    assert Window(NOW - timedelta(hours=2), NOW - timedelta(hours=1)).bounded(NOW) == NOW - timedelta(hours=1)


def test_a_window_starting_in_the_future_is_refused():
    with pytest.raises(ValueError, match="in the future"):
        Window(NOW + timedelta(minutes=1)).bounded(NOW)


def test_kinesis_by_default_while_it_holds_the_window_the_lake_beyond_it():
    inside = Window(NOW - timedelta(hours=23))
    edge = Window(NOW - timedelta(hours=24) + RETENTION_MARGIN / 2)
    assert choose_source(None, inside, retention(), lake_available=True) == "kinesis"
    # Too close to the trim horizon: Kinesis may drop those records while we read them
    assert choose_source(None, edge, retention(), lake_available=True) == "lake"
    assert choose_source(None, Window(NOW - timedelta(days=3)), retention(), lake_available=True) == "lake"


def test_a_stream_created_after_the_window_started_holds_all_of_it():
    young = retention(created=NOW - timedelta(hours=2))
    assert choose_source(None, Window(NOW - timedelta(days=9)), young, lake_available=True) == "kinesis"


def test_asking_kinesis_for_a_window_past_retention_says_what_is_gone_and_what_to_do():
    with pytest.raises(ValueError, match=r"keeps 24 h.*--source lake"):
        choose_source("kinesis", Window(NOW - timedelta(days=2)), retention(), lake_available=True)


def test_without_a_stream_only_the_lake_remains_and_without_a_lake_backfill_is_the_way():
    assert choose_source(None, Window(NOW - timedelta(hours=1)), None, lake_available=True) == "lake"
    with pytest.raises(ValueError, match="auxeira backfill"):
        choose_source(None, Window(NOW - timedelta(days=2)), retention(), lake_available=False)
    with pytest.raises(ValueError, match="--source must be"):
        choose_source("s3", Window(NOW), retention(), lake_available=True)
