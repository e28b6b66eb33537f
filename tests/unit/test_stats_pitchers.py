"""Per-pitcher rolling velocity, pitch count, 5-minute windows and fatigue (flows.stats.pitchers).

Expected values are computed here from the raw feed's ``playEvents`` (naive means over
``pitchData.startSpeed``), and checked against MLB's official ``numberOfPitches``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from statistics import mean
from typing import Any

import msgspec
import pytest

from flows.game.batches import EventBatch
from flows.game.events import PitchEvent, Retraction
from flows.stats.pitchers import (
    PitcherGameState,
    PitcherStats,
    PitchRecord,
    agg,
    initialize,
    pitcher_step,
    result,
)
from tests.unit.official_boxscore import official_lines
from tests.unit.test_stats_live_box import batches_of

pytestmark = pytest.mark.unit

JSON = dict[str, Any]


def raw_pitches(feed: JSON) -> dict[int, list[JSON]]:
    """Thrown pitches per pitcher in game order, attributed from the raw play events."""
    out: dict[int, list[JSON]] = {}
    for play in feed["liveData"]["plays"]["allPlays"]:
        final = play["matchup"]["pitcher"]["id"]
        subs = [
            e
            for e in play["playEvents"]
            if e.get("details", {}).get("eventType") == "pitching_substitution"
        ]
        current = final
        if subs:  # pitches before the first change belong to the pitcher he replaced
            current = subs[0].get("replacedPlayer", {}).get("id", final)
        for event in play["playEvents"]:
            if event.get("details", {}).get("eventType") == "pitching_substitution":
                current = event["player"]["id"]
            if event.get("isPitch"):
                out.setdefault(current, []).append(event)
    return out


def run(batches: list[EventBatch]) -> tuple[PitcherGameState | None, dict[int, PitcherStats]]:
    state: PitcherGameState | None = None
    latest: dict[int, PitcherStats] = {}
    for batch in batches:
        state, out = pitcher_step(state, batch)
        latest.update({s.pitcherId: s for s in out})
    return state, latest


def _speeds(events: list[JSON]) -> list[float]:
    return [
        e["pitchData"]["startSpeed"] for e in events if e.get("pitchData", {}).get("startSpeed")
    ]


@pytest.mark.parametrize("every", [None, 10])
def test_every_pitcher_against_the_raw_feed(fixture_feed: JSON, every: int | None) -> None:
    raw = raw_pitches(fixture_feed)
    _, latest = run(batches_of(fixture_feed, every))
    official = {
        int(pid): line["numberOfPitches"]
        for side in ("home", "away")
        for pid, line in official_lines(fixture_feed, side, "pitching").items()
    }
    assert {p: len(v) for p, v in raw.items()} == official  # the oracle itself is sound
    assert set(latest) == set(official)
    for pid, events in raw.items():
        stats = latest[pid]
        last15 = _speeds(events)[-15:]
        assert stats.pitches == official[pid]
        assert stats.last_n == len(last15)
        assert stats.velo_mean == pytest.approx(mean(last15), abs=0.005)
        assert stats.velo_max == max(last15)
        times = [datetime.fromisoformat(e["startTime"]) for e in events]
        start = times[-1].replace(minute=times[-1].minute // 5 * 5, second=0, microsecond=0)
        in_window = [
            e
            for e, t in zip(events, times, strict=True)
            if start <= t < start + timedelta(minutes=5)
        ]
        assert stats.window_start == start
        assert stats.window_pitches == len(in_window)
        assert stats.window_velo_max == max(_speeds(in_window))
        fastballs = _speeds(
            [e for e in events if e["details"].get("type", {}).get("code") in {"FF", "SI", "FT"}]
        )
        assert stats.fastballs == len(fastballs)
        if fastballs:
            assert stats.fb_baseline == pytest.approx(mean(fastballs[:15]), abs=0.005)
            assert stats.fb_recent == pytest.approx(mean(fastballs[-15:]), abs=0.005)
        assert stats.fatigue == (
            len(fastballs) >= 30 and mean(fastballs[:15]) - mean(fastballs[-15:]) >= 1.5
        )


T0 = datetime(2024, 7, 1, 19, 0, tzinfo=UTC)


def _fold(speeds: list[float | None], fastball: bool = True, seconds: int = 20) -> PitcherStats:
    state = initialize()
    for n, speed in enumerate(speeds):
        at = T0 + timedelta(seconds=seconds * n)
        agg(state, PitchRecord((n, 0), 1, speed, fastball, at, ("", 0)))
    return result(state, 1, 1, "")


@pytest.mark.parametrize(
    ("speeds", "fastball", "fatigue"),
    [
        ([96.0] * 30 + [94.5] * 15, True, True),  # exactly 1.5 mph below the first 15
        ([96.0] * 30 + [94.6] * 15, True, False),  # 1.4 mph: not yet
        ([96.0] * 15 + [94.0] * 14, True, False),  # 29 fastballs: samples would overlap
        ([96.0] * 15 + [94.0] * 15, True, True),  # 30 fastballs: the earliest signal
        ([86.0] * 30 + [80.0] * 15, False, False),  # breaking balls never signal
        ([96.0] * 30 + [None] * 15, True, False),  # untracked pitches change nothing
    ],
)
def test_fatigue_rule(speeds: list[float | None], fastball: bool, fatigue: bool) -> None:
    assert _fold(speeds, fastball).fatigue is fatigue


def test_rolling_and_window_table() -> None:
    speeds: list[float | None] = [90.0, None, 92.0, 94.0, 80.0]
    stats = _fold(speeds, seconds=100)  # 0, 100, 200, 300 (next window), 400 s
    assert (stats.pitches, stats.last_n, stats.velo_mean, stats.velo_max) == (5, 4, 89.0, 94.0)
    assert stats.window_start == T0 + timedelta(minutes=5)
    assert (stats.window_pitches, stats.window_velo_mean, stats.window_velo_max) == (2, 87.0, 94.0)
    empty = result(initialize(), 1, 1, "")
    assert (empty.pitches, empty.velo_mean, empty.velo_max, empty.fatigue) == (0, None, None, False)


def test_revised_pitch_replaces_the_old_one(fixture_feed: JSON) -> None:
    batches = batches_of(fixture_feed, 10)
    state, latest = run(batches[:-1])
    pitch = next(
        e
        for e in reversed(batches[-2].events)
        if isinstance(e, PitchEvent) and e.isPitch and e.pitchData
    )
    before = latest[pitch.pitcherId or 0]
    ts = batches[-2].source_ts[:-2] + "59"
    assert ts > batches[-2].source_ts
    revised = msgspec.structs.replace(
        pitch,
        pitchData={**(pitch.pitchData or {}), "startSpeed": 120.0},
        revision=pitch.revision + 1,
        source_ts=ts,
    )
    state, out = pitcher_step(state, EventBatch(pitch.gamePk, date(2024, 7, 1), ts, (revised,)))
    assert [(s.pitcherId, s.pitches, s.velo_max) for s in out] == [
        (pitch.pitcherId, before.pitches, 120.0)
    ]
    gone = Retraction(
        event_id=pitch.event_id,
        revision=pitch.revision + 2,
        source_ts=ts,
        gamePk=pitch.gamePk,
        retracted_kind="pitch",
    )
    state, out = pitcher_step(state, EventBatch(pitch.gamePk, date(2024, 7, 1), ts, (gone,)))
    assert out[0].pitches == before.pitches - 1
    assert out[0].velo_max is not None and out[0].velo_max < 120.0
