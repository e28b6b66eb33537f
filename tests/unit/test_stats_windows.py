"""League-window items and the window aggregator (flows.stats.windows).

Expected figures per 5-minute window are computed here from the raw feed's play events.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from statistics import mean
from typing import Any

import msgspec
import pytest

from flows.game.batches import EventBatch
from flows.game.events import Event, GameEvent, PitchEvent, PlayEvent, Retraction
from flows.game.release import Released
from flows.stats import windows as win
from flows.stats.pitchers import window_start
from tests.unit.test_stats_live_box import batches_of

pytestmark = pytest.mark.unit

JSON = dict[str, Any]
Figures = tuple[int, int, float | None, int]  # pitches, balls in play, mean exit velo, HR


def _bucket(stamp: str) -> datetime:
    t = datetime.fromisoformat(stamp)
    return t.replace(minute=t.minute // 5 * 5, second=0, microsecond=0)


def raw_windows(feed: JSON) -> dict[datetime, Figures]:
    pitches: dict[datetime, int] = defaultdict(int)
    in_play: dict[datetime, list[float | None]] = defaultdict(list)
    homers: dict[datetime, int] = defaultdict(int)
    for play in feed["liveData"]["plays"]["allPlays"]:
        if play["result"].get("eventType") == "home_run":
            homers[_bucket(play["about"]["endTime"])] += 1
        for event in play["playEvents"]:
            if event.get("isPitch"):
                bucket = _bucket(event["startTime"])
                pitches[bucket] += 1
                if event["details"].get("isInPlay"):
                    in_play[bucket].append(event.get("hitData", {}).get("launchSpeed"))
    out: dict[datetime, Figures] = {}
    for bucket in set(pitches) | set(homers):
        speeds = [s for s in in_play[bucket] if s is not None]
        out[bucket] = (
            pitches[bucket],
            len(in_play[bucket]),
            round(mean(speeds), 2) if speeds else None,
            homers[bucket],
        )
    return out


def feed_items(events: list[Event]) -> list[win.WindowItem]:
    states: dict[int, win.WindowFeedState | None] = {}
    items: list[win.WindowItem] = []
    for event in events:
        state, out = win.feed_event(states.get(event.gamePk), event)
        states[event.gamePk] = state
        items.extend(i for i in out if isinstance(i, win.WindowItem))  # not GameFinal markers
    return items


def fold(items: list[win.WindowItem]) -> dict[datetime, win.WindowStats]:
    accs: dict[datetime, win.WindowAcc] = defaultdict(win.initialize)
    for item in items:
        win.agg(accs[window_start(item.at)], item)
    return {
        start: win.result(acc, start, start + timedelta(minutes=5)) for start, acc in accs.items()
    }


@pytest.mark.parametrize("every", [None, 1, 10])
def test_windows_match_the_raw_feed(fixture_feed: JSON, every: int | None) -> None:
    events = [e for b in batches_of(fixture_feed, every) for e in b.events]
    got = {
        s: (w.pitches, w.balls_in_play, w.exit_velocity_avg, w.home_runs)
        for s, w in fold(feed_items(events)).items()
    }
    assert got == raw_windows(fixture_feed)
    assert sum(p for p, _, _, _ in got.values()) > 200


T0 = datetime(2024, 7, 1, 19, 1, tzinfo=UTC)


def _pitch(revision: int, ts: str, start: datetime, **kw: Any) -> PitchEvent:
    fields: dict[str, Any] = {
        "event_id": "pitch:1:0:1",
        "revision": revision,
        "source_ts": ts,
        "gamePk": 1,
        "atBatIndex": 0,
        "playEventIndex": 1,
        "type": "pitch",
        "isPitch": True,
        "inning": 1,
        "halfInning": "top",
        "countBefore": {"balls": 0, "strikes": 0, "outs": 0},
        "countAfter": {"balls": 0, "strikes": 0, "outs": 0},
        "pitcherId": 5,
        "batterId": 6,
        "startTime": start.isoformat().replace("+00:00", "Z"),
    }
    return msgspec.convert({**fields, **kw}, PitchEvent)


FIRST = _pitch(0, "20240701_190200", T0, isInPlay=True, hitData={"launchSpeed": 100.0})
TRACKED = msgspec.structs.replace(
    FIRST, revision=1, source_ts="20240701_190300", pitchData={"spinRate": 2300}
)
FASTER = msgspec.structs.replace(
    FIRST, revision=2, source_ts="20240701_190400", hitData={"launchSpeed": 104.0}
)
MOVED = msgspec.structs.replace(
    FASTER, revision=3, source_ts="20240701_190500", startTime="2024-07-01T19:05:10Z"
)
PICKOFF = msgspec.structs.replace(FIRST, revision=1, source_ts="20240701_190300", isPitch=False)
GONE = Retraction(
    event_id=FIRST.event_id,
    revision=1,
    source_ts="20240701_190300",
    gamePk=1,
    retracted_kind="pitch",
)
HOMER = msgspec.convert(
    {
        "event_id": "play:1:0",
        "gamePk": 1,
        "source_ts": "20240701_190200",
        "atBatIndex": 0,
        "inning": 1,
        "halfInning": "top",
        "eventType": "home_run",
        "event": "Home Run",
        "description": "",
        "rbi": 1,
        "isOut": False,
        "outs": 0,
        "awayScore": 1,
        "homeScore": 0,
        "batterId": 6,
        "pitcherId": 5,
        "endTime": "2024-07-01T19:01:30Z",
    },
    PlayEvent,
)
SINGLE = msgspec.structs.replace(HOMER, revision=1, source_ts="20240701_190300", eventType="single")
W0, W1 = datetime(2024, 7, 1, 19, 0, tzinfo=UTC), datetime(2024, 7, 1, 19, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("events", "sent", "windows"),
    [
        # (events in order, items sent [(window, present)], {window: (pitches, in play, EV, HR)})
        ([FIRST], [(W0, True)], {W0: (1, 1, 100.0, 0)}),
        ([FIRST, FIRST], [(W0, True)], {W0: (1, 1, 100.0, 0)}),  # a duplicate sends nothing
        ([FIRST, TRACKED], [(W0, True)], {W0: (1, 1, 100.0, 0)}),  # irrelevant revision
        ([FIRST, FASTER], [(W0, True), (W0, True)], {W0: (1, 1, 104.0, 0)}),  # counted once
        (
            [FIRST, FASTER, MOVED],  # moved to the next window: tombstone + item
            [(W0, True), (W0, True), (W0, False), (W1, True)],
            {W0: (0, 0, None, 0), W1: (1, 1, 104.0, 0)},
        ),
        ([FIRST, GONE], [(W0, True), (W0, False)], {W0: (0, 0, None, 0)}),
        ([FIRST, PICKOFF], [(W0, True), (W0, False)], {W0: (0, 0, None, 0)}),
        ([GONE], [], {}),  # retraction of something never sent
        ([HOMER], [(W0, True)], {W0: (0, 0, None, 1)}),
        ([HOMER, SINGLE], [(W0, True), (W0, False)], {W0: (0, 0, None, 0)}),
    ],
)
def test_feed_and_fold_table(
    events: list[Event], sent: list[tuple[datetime, bool]], windows: dict[datetime, Figures]
) -> None:
    items = feed_items(events)
    assert [(window_start(i.at), i.present) for i in items] == sent
    got = {
        s: (w.pitches, w.balls_in_play, w.exit_velocity_avg, w.home_runs)
        for s, w in fold(items).items()
    }
    assert got == windows


def test_tombstone_of_a_move_loses_to_the_item_in_any_order() -> None:
    items = feed_items(
        [FIRST, msgspec.structs.replace(FIRST, revision=1, startTime="2024-07-01T19:01:40Z")]
    )
    tombstone, item = items[1:]
    assert (tombstone.present, item.present) == (False, True)
    for order in ([tombstone, item], [item, tombstone]):
        acc = win.initialize()
        for i in [items[0], *order]:
            win.agg(acc, i)
        assert win.result(acc, W0, W1).pitches == 1
    merged = win.merge(win.agg(win.initialize(), item), win.agg(win.initialize(), tombstone))
    assert win.result(merged, W0, W1).pitches == 1


def test_window_result_fields() -> None:
    acc = win.initialize()
    for item in feed_items([FIRST, HOMER]):
        win.agg(acc, item)
    stats = win.result(acc, W0, W1)
    assert (stats.games, stats.exit_velocity_n, stats.source_ts) == (1, 1, "20240701_190200")


def test_feed_state_is_kept_until_the_diff_signals_its_release() -> None:
    final = GameEvent(
        event_id="game:1:status",
        gamePk=1,
        source_ts="20240701_220000",
        action="status",
        abstractGameState="Final",
    )
    state, out = win.window_feed_step(
        None, EventBatch(1, date(2024, 7, 1), final.source_ts, (final,))
    )
    assert state is not None and state.final_ts == "20240701_220000"
    assert out == [win.GameFinal(gamePk=1, final_ts="20240701_220000")]
    late = msgspec.structs.replace(FIRST, source_ts="20240705_000000")
    kept, out = win.window_feed_step(
        state, EventBatch(1, date(2024, 7, 1), late.source_ts, (late,))
    )
    assert kept is state and len(out) == 1  # no rule of its own: the diff judges
    assert win.window_feed_step(state, Released(game_pk=1)) == (None, [])
