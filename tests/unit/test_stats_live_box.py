"""The running box score (flows.stats.live_box) against MLB's own box score and line score."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import msgspec
import pytest

from flows.game.batches import EventBatch
from flows.game.envelope import parse_feed_timestamp
from flows.game.events import PitchEvent, Retraction
from flows.game.release import Released
from flows.game.snapshot_diff import step
from flows.stats.live_box import GameBoxState, LiveStats, live_step
from sim.simulate import simulate
from tests.unit.official_boxscore import differences, official_lines

pytestmark = pytest.mark.unit

JSON = dict[str, Any]


def batches_of(feed: JSON, every: int | None) -> list[EventBatch]:
    snapshots = [feed] if every is None else simulate(feed, every)
    state = None
    out = []
    for snap in snapshots:
        state, events = step(state, snap)
        ts = snap["metaData"]["timeStamp"]
        out.append(EventBatch(feed["gamePk"], date(2024, 7, 1), ts, tuple(events)))
    return out


def run(batches: list[EventBatch]) -> tuple[GameBoxState | None, list[LiveStats]]:
    state: GameBoxState | None = None
    out: list[LiveStats] = []
    for batch in batches:
        state, emitted = live_step(state, batch)
        out.extend(emitted)
    return state, out


@pytest.mark.parametrize("every", [None, 1, 10, 50])
def test_last_live_stats_is_the_official_box_score(fixture_feed: JSON, every: int | None) -> None:
    batches = batches_of(fixture_feed, every)
    _, out = run(batches)
    assert len(out) == sum(1 for b in batches if b.events)
    last = out[-1]
    compared, bad = differences(fixture_feed, last.box)
    assert compared > 300
    assert bad == []
    assert (last.gamePk, last.source_ts) == (fixture_feed["gamePk"], batches[-1].source_ts)
    assert last.abstractGameState == "Final"


def test_innings_and_totals_match_mlb_linescore(fixture_feed: JSON) -> None:
    _, out = run(batches_of(fixture_feed, 10))
    last = out[-1]
    official = fixture_feed["liveData"]["linescore"]
    expected = [
        (
            i["num"],
            i["away"].get("runs"),
            i["away"]["hits"],
            i["home"].get("runs"),
            i["home"]["hits"],
        )
        for i in official["innings"]
    ]
    got = [(i.num, i.away_runs, i.away_hits, i.home_runs, i.home_hits) for i in last.innings]
    assert got == expected
    teams = official["teams"]
    assert (last.away_runs, last.away_hits, last.away_errors) == (
        teams["away"]["runs"],
        teams["away"]["hits"],
        teams["away"]["errors"],
    )
    assert (last.home_runs, last.home_hits, last.home_errors) == (
        teams["home"]["runs"],
        teams["home"]["hits"],
        teams["home"]["errors"],
    )


def test_mid_game_status_and_running_score(fixture_feed: JSON) -> None:
    batches = batches_of(fixture_feed, 10)
    _, out = run(batches[: len(batches) // 2])
    middle = out[-1]
    assert middle.abstractGameState == "Live"
    final_runs = sum(
        i["away"].get("runs", 0) for i in fixture_feed["liveData"]["linescore"]["innings"]
    )
    assert middle.away_runs <= final_runs
    assert len(middle.innings) < len(fixture_feed["liveData"]["linescore"]["innings"])


def test_empty_batch_emits_nothing(fixture_feed: JSON) -> None:
    batches = batches_of(fixture_feed, 50)
    state, _ = run(batches[:3])
    empty = EventBatch(fixture_feed["gamePk"], date(2024, 7, 1), "20240701_230000", ())
    state, out = live_step(state, empty)
    assert state is not None and out == []


def test_revision_and_retraction_are_honoured(fixture_feed: JSON) -> None:
    batches = batches_of(fixture_feed, None)
    state, _ = run(batches)
    pitches = [e for e in batches[0].events if isinstance(e, PitchEvent) and e.isPitch]
    first, second = pitches[0], pitches[1]
    side = "home" if first.halfInning == "top" else "away"
    pid = str(first.pitcherId)
    official = official_lines(fixture_feed, side, "pitching")[pid]["numberOfPitches"]
    later = batches[-1].source_ts[:-2] + "59"  # newer, but well within the release grace
    assert later > batches[-1].source_ts
    gone = Retraction(
        event_id=first.event_id,
        revision=first.revision + 1,
        source_ts=later,
        gamePk=first.gamePk,
        retracted_kind="pitch",
    )
    # a revised pitch that is no longer a thrown pitch (e.g. recoded as a pickoff)
    recoded = msgspec.structs.replace(
        second, isPitch=False, revision=second.revision + 1, source_ts=later
    )
    stale = msgspec.structs.replace(second, isPitch=False, source_ts="20000101_000000")
    table = [
        ((stale,), official),  # older than what is kept: ignored
        ((gone,), official - 1),
        ((recoded,), official - 2),
    ]
    for events, expected in table:
        state, out = live_step(state, EventBatch(first.gamePk, date(2024, 7, 1), later, events))
        assert out[0].box["teams"][side]["pitching"][pid]["numberOfPitches"] == expected


def test_state_is_kept_until_the_diff_signals_its_release(fixture_feed: JSON) -> None:
    batches = batches_of(fixture_feed, 50)
    state, _ = run(batches)
    assert state is not None and state.final_ts is not None
    final = parse_feed_timestamp(state.final_ts)
    late_ts = (final + timedelta(days=3)).strftime("%Y%m%d_%H%M%S")
    kept, out = live_step(state, EventBatch(fixture_feed["gamePk"], date(2024, 7, 1), late_ts, ()))
    assert kept is state and out == []  # no rule of its own: the diff judges
    assert live_step(state, Released(game_pk=fixture_feed["gamePk"])) == (None, [])
    assert live_step(None, Released(game_pk=fixture_feed["gamePk"])) == (None, [])
