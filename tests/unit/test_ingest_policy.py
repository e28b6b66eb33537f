"""The scheduler's per-game state machine, on a fake clock and real recorded schedules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.policy import (
    Cadence,
    Corrections,
    GameTrack,
    Phase,
    all_done,
    interval,
    merge_polled,
    new_track,
    on_missing,
    on_schedule,
    on_status,
    parse_corrections,
    phase_of,
)

pytestmark = pytest.mark.unit

T0 = datetime(2024, 8, 26, 12, 0, tzinfo=UTC)
FIRST_PITCH = datetime(2024, 8, 26, 17, 10, tzinfo=UTC)
CAD = Cadence()
LIVE = {"abstractGameState": "Live", "codedGameState": "I", "detailedState": "In Progress"}
FINAL = {"abstractGameState": "Final", "codedGameState": "F", "detailedState": "Final"}
GAME_OVER = {"abstractGameState": "Final", "codedGameState": "O", "detailedState": "Game Over"}
PREVIEW = {"abstractGameState": "Preview", "codedGameState": "P", "detailedState": "Pre-Game"}
DELAYED = {"abstractGameState": "Live", "codedGameState": "I", "detailedState": "Delayed: Rain"}
SUSPENDED = {"abstractGameState": "Live", "codedGameState": "U", "detailedState": "Suspended: Rain"}
POSTPONED = {"abstractGameState": "Final", "codedGameState": "D", "detailedState": "Postponed"}


def track(phase: Phase = Phase.PREVIEW, **kw: Any) -> GameTrack:
    return GameTrack(1, FIRST_PITCH.date(), FIRST_PITCH, phase, T0, **kw)


def schedule_games(data_dir: Path, name: str) -> list[tuple[date, dict[str, Any]]]:
    path = next((data_dir / "mlb" / "other" / "schedule").glob(f"{name}*.json"))
    body = orjson.loads(path.read_bytes())
    return [(date.fromisoformat(d["date"]), g) for d in body["dates"] for g in d["games"]]


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        (LIVE, Phase.LIVE),
        (FINAL, Phase.FINAL),
        (GAME_OVER, Phase.FINAL),
        (PREVIEW, Phase.PREVIEW),
        (DELAYED, Phase.DELAYED),
        (SUSPENDED, Phase.SUSPENDED),
        (POSTPONED, Phase.POSTPONED),
        ({"detailedState": "Cancelled", "codedGameState": "C"}, Phase.CANCELLED),
    ],
)
def test_phase_of_status(status: dict[str, str], phase: Phase) -> None:
    assert phase_of(status) is phase


def test_preview_far_from_first_pitch_polls_slowly_but_not_past_the_near_window() -> None:
    far = interval(track(), T0, CAD)  # 5h10 before first pitch
    assert far == timedelta(seconds=CAD.far_s)
    just_before_window = FIRST_PITCH - timedelta(seconds=CAD.near_window_s + 120)
    assert interval(track(), just_before_window, CAD) == timedelta(seconds=120)
    before = FIRST_PITCH - timedelta(seconds=CAD.near_window_s + 600)
    assert interval(track(), before, CAD) == timedelta(seconds=600)


def test_preview_near_and_after_first_pitch_polls_often() -> None:
    assert interval(track(), FIRST_PITCH - timedelta(minutes=10), CAD).total_seconds() == 60
    assert interval(track(), FIRST_PITCH + timedelta(hours=1), CAD).total_seconds() == 60


def test_live_follows_feed_wait_with_a_floor() -> None:
    t = on_status(track(), LIVE, T0, CAD, wait_s=10)
    assert t.phase is Phase.LIVE and t.next_poll_at == T0 + timedelta(seconds=10)
    fast = on_status(track(), LIVE, T0, CAD, wait_s=0.1)
    assert fast.next_poll_at == T0 + timedelta(seconds=CAD.live_min_s)


def test_delayed_and_suspended_cadences() -> None:
    assert on_status(track(), DELAYED, T0, CAD).next_poll_at == T0 + timedelta(seconds=120)
    assert on_status(track(), SUSPENDED, T0, CAD).next_poll_at == T0 + timedelta(seconds=900)


def test_final_polls_once_more_after_grace_then_stops() -> None:
    cad = replace(CAD, corrections=Corrections(after_s=(), next_morning=None))
    first = on_status(track(Phase.LIVE), GAME_OVER, T0, cad)
    assert first.phase is Phase.FINAL and first.active
    assert first.next_poll_at == T0 + timedelta(seconds=cad.final_grace_s)
    early = on_status(first, FINAL, T0 + timedelta(seconds=5), cad)
    assert early.active and early.next_poll_at == first.next_poll_at
    done = on_status(first, FINAL, first.next_poll_at, cad)
    assert done.phase is Phase.DONE and not done.active


def test_missing_feed_stops_polling() -> None:
    assert not on_missing(track(), T0).active


@pytest.mark.corpus
def test_postponed_game_is_followed_to_its_rescheduled_doubleheader(data_dir: Path) -> None:
    """2024-06-05: 746628 postponed (inclement weather) to 2024-08-26, where the recorded
    schedule has it as game 1 of a doubleheader with 746596."""
    rained = schedule_games(data_dir, "mlb-gameday-bot__schedule_inclement_weather")
    tracks, follow = on_schedule({}, rained, T0, CAD)
    (postponed,) = tracks.values()
    assert postponed.phase is Phase.POSTPONED and not postponed.active
    assert follow == {date(2024, 8, 26)}
    dh = schedule_games(data_dir, "mlb-gameday-bot__schedule_doubleheader")
    tracks, follow = on_schedule(tracks, dh, T0, CAD)
    active = sorted((t.game_pk, t.game_date.isoformat()) for t in tracks.values() if t.active)
    assert active == [(746596, "2024-08-26T22:40:00+00:00"), (746628, "2024-08-26T17:10:00+00:00")]
    assert all(t.next_poll_at == T0 for t in tracks.values() if t.active)
    # each game of the doubleheader has its own cadence from its own first pitch
    g1, g2 = sorted((t for t in tracks.values() if t.active), key=lambda t: t.game_date)
    soon = datetime(2024, 8, 26, 17, 0, tzinfo=UTC)
    assert interval(g1, soon, CAD).total_seconds() == CAD.near_s
    assert interval(g2, soon, CAD).total_seconds() == CAD.far_s
    assert not all_done(tracks)


@pytest.mark.corpus
def test_schedule_refresh_keeps_live_state(data_dir: Path) -> None:
    games = schedule_games(data_dir, "gamefeed-api__schedule")  # 748534, listed Final
    tracks, _ = on_schedule({}, games, T0, CAD)
    ((key, t),) = tracks.items()
    assert t.phase is Phase.PREVIEW  # the feed decides, not the (stale) schedule
    tracks[key] = on_status(t, LIVE, T0, CAD, wait_s=10)
    again, _ = on_schedule(tracks, games, T0 + timedelta(minutes=15), CAD)
    assert again[key] == tracks[key]


@pytest.mark.corpus
def test_new_track_reads_schedule_entry(data_dir: Path) -> None:
    ((listed, game),) = schedule_games(data_dir, "gamefeed-api__schedule")
    t = new_track(game, listed, T0, CAD)
    assert (t.game_pk, t.listed_date) == (748534, date(2023, 11, 1))
    assert t.game_date == datetime(2023, 11, 2, 0, 3, tzinfo=UTC)


def polls_after_final(final_at: datetime, cad: Cadence) -> list[datetime]:
    """Every poll time the policy asks for after Final was first seen at ``final_at``."""
    t = on_status(track(Phase.LIVE), FINAL, final_at, cad)
    polls = []
    while t.active:
        polls.append(t.next_poll_at)
        t = on_status(t, FINAL, t.next_poll_at + timedelta(seconds=3), cad)  # polled late
    return polls


@pytest.mark.parametrize(
    ("final_at", "morning"),
    [
        # 22:30 EDT on Aug 26: next morning is Aug 27 10:00 EDT = 14:00 UTC
        (datetime(2024, 8, 27, 2, 30, tzinfo=UTC), datetime(2024, 8, 27, 14, 0, tzinfo=UTC)),
        # 00:30 EDT on Aug 27 (extra innings): the same calendar day's 10:00 EDT
        (datetime(2024, 8, 27, 4, 30, tzinfo=UTC), datetime(2024, 8, 27, 14, 0, tzinfo=UTC)),
        # 16:00 EDT day game: the next day 10:00 EDT
        (datetime(2024, 8, 26, 20, 0, tzinfo=UTC), datetime(2024, 8, 27, 14, 0, tzinfo=UTC)),
        # 17:00 EST (after the 2023-11-05 DST change): 10:00 EST = 15:00 UTC
        (datetime(2023, 11, 10, 22, 0, tzinfo=UTC), datetime(2023, 11, 11, 15, 0, tzinfo=UTC)),
    ],
)
def test_after_final_polls_on_the_correction_schedule_then_stops(
    final_at: datetime, morning: datetime
) -> None:
    grace = timedelta(seconds=CAD.final_grace_s)
    expected = sorted(
        {final_at + grace, final_at + timedelta(hours=1), final_at + timedelta(hours=6), morning}
    )
    assert polls_after_final(final_at, CAD) == expected


def test_corrections_schedule_parses_from_a_setting() -> None:
    assert parse_corrections("1h, 6h, next 10:00") == Corrections((3600.0, 21600.0), time(10))
    assert parse_corrections("90m,2d") == Corrections((5400.0, 172800.0), None)
    assert parse_corrections("30s,next 07:15") == Corrections((30.0,), time(7, 15))
    assert parse_corrections("") == Corrections((), None)
    assert parse_corrections("1h,6h,next 10:00") == Corrections()  # the default
    for bad in ("1x", "next 25:00", "h", "-1h"):
        with pytest.raises(ValueError):
            parse_corrections(bad)


def test_poll_result_keeps_schedule_changes_made_while_in_flight() -> None:
    before = track()
    polled = on_status(before, PREVIEW, T0, CAD)
    moved = replace(before, game_date=FIRST_PITCH + timedelta(hours=1))
    merged = merge_polled(before, moved, polled)
    assert merged.game_date == FIRST_PITCH + timedelta(hours=1)
    assert merged.next_poll_at == polled.next_poll_at
    off = replace(before, phase=Phase.POSTPONED, reschedule_date=date(2024, 8, 27))
    merged = merge_polled(before, off, polled)
    assert merged.phase is Phase.POSTPONED and merged.reschedule_date == date(2024, 8, 27)
    # the feed showed the game under way: it wins over the schedule's older word
    live = on_status(before, LIVE, T0, CAD, wait_s=10)
    assert merge_polled(before, off, live).phase is Phase.LIVE
    assert merge_polled(before, before, live) == live  # nothing changed meanwhile
