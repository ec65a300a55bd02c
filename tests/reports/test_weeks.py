"""ISO weeks in the school's timezone, clock changes, and when a report is due."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from monitor.config import ReportsConfig
from monitor.delivery.reports import due_week, parse_week, previous_week, scheduled_at, shift_week, week_bounds, week_of

LONDON = ZoneInfo("Europe/London")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_week_bounds_are_local_midnights_and_clock_change_weeks_are_167_or_169_hours():
    assert week_bounds("2026-W42", LONDON) == (utc(2026, 10, 11, 23), utc(2026, 10, 18, 23))  # BST
    start, end = week_bounds("2026-W43", LONDON)       # clocks go back on Sunday 25 October 2026
    assert (start, end) == (utc(2026, 10, 18, 23), utc(2026, 10, 26, 0))
    assert (end - start).total_seconds() == 169 * 3600
    start, end = week_bounds("2026-W13", LONDON)       # clocks go forward on Sunday 29 March 2026
    assert (end - start).total_seconds() == 167 * 3600


def test_week_of_uses_school_time_not_utc():
    # Sunday 18 Oct 23:30 UTC is Monday 00:30 BST: already the next week at school
    assert week_of(utc(2026, 10, 18, 23, 30), LONDON) == "2026-W43"
    assert week_of(utc(2026, 10, 18, 22, 59), LONDON) == "2026-W42"
    # after the change, Sunday 25 Oct 23:30 UTC is 23:30 GMT: still that week
    assert week_of(utc(2026, 10, 25, 23, 30), LONDON) == "2026-W43"
    assert week_of(utc(2026, 10, 26, 0, 0), LONDON) == "2026-W44"
    assert week_of(utc(2026, 10, 18, 23, 30), ZoneInfo("UTC")) == "2026-W42"


def test_week_arithmetic_across_year_ends():
    assert shift_week("2026-W53", 1) == "2027-W01"
    assert shift_week("2027-W01", -1) == "2026-W53"
    assert previous_week(utc(2027, 1, 4, 9), LONDON) == "2026-W53"


@pytest.mark.parametrize("bad", ["2026-42", "2026-W5", "W42", "2025-W53", "2026-W00", ""])
def test_parse_week_rejects_bad_weeks_naming_them(bad):
    with pytest.raises(ValueError) as err:
        parse_week(bad)
    assert repr(bad) in str(err.value)


def test_due_week_follows_the_configured_day_and_hour_in_school_time(school_config):
    cfg = school_config                              # default: Monday 07:00 Europe/London
    # Monday 26 Oct 2026 (GMT): 06:59 is before the hour, so the due report is W42's
    assert scheduled_at("2026-W43", cfg) == utc(2026, 10, 26, 7, 0)
    assert due_week(utc(2026, 10, 26, 6, 59), cfg) == "2026-W42"
    assert due_week(utc(2026, 10, 26, 7, 0), cfg) == "2026-W43"
    # Monday 19 Oct 2026 (BST): 07:00 BST is 06:00 UTC
    assert scheduled_at("2026-W42", cfg) == utc(2026, 10, 19, 6, 0)
    assert due_week(utc(2026, 10, 19, 5, 59), cfg) == "2026-W41"
    assert due_week(utc(2026, 10, 19, 6, 0), cfg) == "2026-W42"
    friday = replace(cfg, reports=ReportsConfig(day="friday", hour=16, minute=30))
    assert scheduled_at("2026-W42", friday) == utc(2026, 10, 23, 15, 30)
    assert due_week(utc(2026, 10, 22, 12), friday) == "2026-W41"
    assert due_week(utc(2026, 10, 24, 12), friday) == "2026-W42"
