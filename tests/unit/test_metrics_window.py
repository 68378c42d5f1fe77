"""The analytics window and the roll-up's schedule, as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from metrics.performance import ceil_hour, window
from metrics.rollup import FIRST_RUN_HOURS, closed_hour, hours_to_roll
from shared.errors import BadRequest

NOW = datetime(2026, 11, 24, 4, 20, tzinfo=UTC)


def test_the_default_window_is_the_last_seven_days() -> None:
    span = window(None, None, "function", NOW)
    assert (span.start, span.end) == (NOW - timedelta(days=7), NOW)


def test_times_with_zones_dates_and_naive_times_are_read_as_utc() -> None:
    span = window("2026-11-20", "2026-11-24T05:20:00+01:00", "day", NOW)
    assert span.start == datetime(2026, 11, 20, tzinfo=UTC)
    assert span.end == datetime(2026, 11, 24, 4, 20, tzinfo=UTC)
    assert window("2026-11-23T10:00:00", None, "day", NOW).start == datetime(2026, 11, 23, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "group_by", "says"),
    [
        ("2026-11-24T00:00:00Z", "2026-11-23T00:00:00Z", "day", "before"),
        ("2026-11-24T00:00:00Z", "2026-11-24T00:00:00Z", "day", "before"),
        ("last week", None, "day", "ISO 8601"),
        ("2026-06-01T00:00:00Z", None, "day", "93 days"),
        ("2026-10-01T00:00:00Z", None, "hour", "group_by=day"),
    ],
)
def test_a_bad_window_is_a_400_that_says_what_to_fix(start: str, end: str | None, group_by: str, says: str) -> None:
    with pytest.raises(BadRequest, match=says):
        window(start, end, group_by, NOW)  # type: ignore[arg-type]


def test_an_hour_is_closed_five_minutes_after_it_ends() -> None:
    assert closed_hour(datetime(2026, 11, 24, 4, 4, tzinfo=UTC)) == datetime(2026, 11, 24, 2, tzinfo=UTC)
    assert closed_hour(datetime(2026, 11, 24, 4, 6, tzinfo=UTC)) == datetime(2026, 11, 24, 3, tzinfo=UTC)


def test_a_run_rolls_the_last_three_closed_hours_and_catches_up_after_missed_runs() -> None:
    last = datetime(2026, 11, 24, 3, tzinfo=UTC)
    assert hours_to_roll(NOW, last) == [last - timedelta(hours=2), last - timedelta(hours=1), last]
    missed = hours_to_roll(NOW, last - timedelta(hours=10))
    assert missed[0] == last - timedelta(hours=9) and missed[-1] == last and len(missed) == 10
    assert len(hours_to_roll(NOW, None)) == FIRST_RUN_HOURS


def test_ceil_hour() -> None:
    assert ceil_hour(datetime(2026, 11, 24, 4, tzinfo=UTC)) == datetime(2026, 11, 24, 4, tzinfo=UTC)
    assert ceil_hour(datetime(2026, 11, 24, 4, 0, 1, tzinfo=UTC)) == datetime(2026, 11, 24, 5, tzinfo=UTC)
