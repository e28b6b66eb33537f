"""``ingest.coverage.day_window``: the log window ``mlbsts coverage DATE`` reads (pure).

Expected instants are worked out by hand from the rule: start of DATE in New York minus
24 h; end: one hour past the last poll (grace or correction) of a game Final at the end of
the next day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ingest.coverage import day_window
from ingest.policy import Corrections

pytestmark = pytest.mark.unit
NY = ZoneInfo("America/New_York")


def test_default_schedule_ends_the_morning_after_next_at_eleven() -> None:
    since, until = day_window(date(2023, 11, 1), Corrections(), final_grace_s=600)
    assert since == datetime(2023, 10, 31, 0, 0, tzinfo=NY)
    assert until == datetime(2023, 11, 3, 11, 0, tzinfo=NY)


def test_long_delays_win_over_the_morning() -> None:
    _, until = day_window(date(2024, 7, 1), Corrections((3600.0, 86400.0), time(10, 0)))
    assert until == datetime(2024, 7, 4, 1, 0, tzinfo=NY)  # 07-03 00:00 + 24 h + 1 h


def test_no_corrections_ends_after_the_grace_poll() -> None:
    since, until = day_window(
        date(2024, 7, 1), Corrections((), None), final_grace_s=1800, margin=timedelta(hours=6)
    )
    assert since == datetime(2024, 6, 30, 18, 0, tzinfo=NY)
    assert until == datetime(2024, 7, 3, 1, 30, tzinfo=NY)


def test_daylight_saving_change_is_in_new_york_time() -> None:
    # clocks go back on 2023-11-05 at 02:00: 10:00 on 11-06 is 15:00 UTC, not 14:00
    _, until = day_window(date(2023, 11, 4), Corrections((), time(10, 0)))
    assert until.astimezone(ZoneInfo("UTC")) == datetime(2023, 11, 6, 16, 0, tzinfo=ZoneInfo("UTC"))
