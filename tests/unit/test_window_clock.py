"""The league clock (flows.stats.window_clock): event time only, the same windows and late
items whatever the interleaving of the games.

Two real games (the fixture 744914 and 718594 from the corpus), polled every 3 pitches
through the snapshot diff and the window feed, give the item streams. The second game is
moved in time to overlap the first (the clock only sees the items' times), so that the
interleaving of the two streams matters to any clock that is not per game.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flows.stats import windows as win
from flows.stats.window_clock import (
    ClosedWindow,
    LateItem,
    LeagueClock,
    WindowRules,
    close_all,
    league_step,
)
from tests.conftest import corpus_feed_paths, load_fixture_feed
from tests.unit.test_stats_live_box import batches_of

pytestmark = [pytest.mark.unit, pytest.mark.corpus]

Item = win.WindowItem | win.GameFinal
Result = tuple[dict[int, tuple[Any, ...]], set[tuple[int, str, tuple[str, int, int], str]]]
BOUNDED = WindowRules(bounded=True)
LIVE = WindowRules()
SHIFT_TO_OVERLAP = 17  # minutes after the first game's first item


def _stream(feed: dict[str, Any]) -> list[Item]:
    state: win.WindowFeedState | None = None
    out: list[Item] = []
    for batch in batches_of(feed, 3):
        for event in batch.events:
            state, items = win.feed_event(state, event)
            out.extend(items)
    return out


def _times(stream: list[Item]) -> list[datetime]:
    return [i.at for i in stream if isinstance(i, win.WindowItem)]


def _moved(stream: list[Item], delta: timedelta) -> list[Item]:
    return [
        msgspec.structs.replace(i, at=i.at + delta) if isinstance(i, win.WindowItem) else i
        for i in stream
    ]


@pytest.fixture(scope="module")
def streams() -> tuple[list[Item], list[Item]]:
    second = [p for p in corpus_feed_paths() if p.stem == "718594"]
    if not second:
        pytest.skip("shared corpus game 718594 not found")
    a = _stream(load_fixture_feed())
    b = _stream(msgspec.json.decode(second[0].read_bytes()))
    delta = min(_times(a)) + timedelta(minutes=SHIFT_TO_OVERLAP) - min(_times(b))
    return a, _moved(b, delta)


def run(items: list[Item], rules: WindowRules) -> Result:
    """Closed windows (number → figures) and late items of one run, order left out."""
    state: LeagueClock | None = None
    out: list[ClosedWindow | LateItem] = []
    for item in items:
        state, emitted = league_step(state, item, rules)
        out.extend(emitted)
    out.extend(close_all(state)[1])
    closed = [o for o in out if isinstance(o, ClosedWindow)]
    windows = {c.window: _figures(rules, c) for c in closed}
    assert len(windows) == len(closed), "a window closed twice"
    late = {
        (o.window, o.item.event_id, o.item.version, o.why) for o in out if isinstance(o, LateItem)
    }
    return windows, late


def _figures(rules: WindowRules, closed: ClosedWindow) -> tuple[Any, ...]:
    end = rules.end_of(closed.window)
    stats = win.result(closed.acc, end - rules.length, end)
    return msgspec.structs.astuple(stats)


def merge_random(a: list[Item], b: list[Item], seed: int) -> list[Item]:
    """Any interleaving of ``a`` and ``b`` that keeps each game's order."""
    rng = random.Random(seed)
    picks = [0] * len(a) + [1] * len(b)
    rng.shuffle(picks)
    its = (iter(a), iter(b))
    return [next(its[p]) for p in picks]


def merge_in_step(a: list[Item], b: list[Item], seed: int, lead: timedelta) -> list[Item]:
    """An interleaving in which neither game runs more than about ``lead`` ahead of the
    other in event time (how a live worker reads): random, within that bound."""
    rng = random.Random(seed)
    out: list[Item] = []
    i = j = 0
    newest = [datetime.min.replace(tzinfo=UTC)] * 2
    while i < len(a) or j < len(b):
        if j >= len(b) or (i < len(a) and _pick_a(rng, newest, lead)):
            item, i = a[i], i + 1
            side = 0
        else:
            item, j = b[j], j + 1
            side = 1
        if isinstance(item, win.WindowItem):
            newest[side] = max(newest[side], item.at)
        out.append(item)
    return out


def _pick_a(rng: random.Random, newest: list[datetime], lead: timedelta) -> bool:
    if newest[0] - newest[1] > lead:
        return False
    if newest[1] - newest[0] > lead:
        return True
    return rng.random() < 0.5


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(min_value=0, max_value=2**32))
@example(seed=0)
def test_bounded_any_interleaving_gives_the_same_windows_and_late_items(
    streams: tuple[list[Item], list[Item]], seed: int
) -> None:
    a, b = streams
    reference = run(a + b, BOUNDED)
    assert run(b + a, BOUNDED) == reference
    assert run(merge_random(a, b, seed), BOUNDED) == reference
    windows, _ = reference
    assert sum(f[4] for f in windows.values()) > 400  # both games' pitches were counted
    assert any(f[3] == 2 for f in windows.values())  # the games overlap in some windows


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_live_reading_in_step_closes_the_same_windows_as_a_bounded_replay(
    streams: tuple[list[Item], list[Item]], seed: int
) -> None:
    a, b = streams
    merged = merge_in_step(a, b, seed, lead=timedelta(minutes=10))
    assert run(merged, LIVE) == run(a + b, BOUNDED)


def test_a_league_wide_watermark_would_depend_on_the_interleaving(
    streams: tuple[list[Item], list[Item]],
) -> None:
    """The check above has teeth: with ``idle`` 0 the frontier is the newest game's time
    minus the wait (a league-wide watermark), and one game read entirely before the other
    loses the other's items as late."""
    a, b = streams
    league_wide = WindowRules(idle=timedelta(0))
    windows, late = run(a + b, league_wide)
    assert len(late) > 100
    assert (windows, late) != run(a + b, BOUNDED)


T0 = datetime(2024, 7, 1, 19, 0, tzinfo=UTC)


def item(game: int, minute: float, n: int, ts: str = "20240701_190000") -> win.WindowItem:
    return win.WindowItem(
        event_id=f"pitch:{game}:0:{n}",
        gamePk=game,
        at=T0 + timedelta(minutes=minute),
        version=(ts, 0, 1),
        is_pitch=True,
    )


def steps(items: list[Item], rules: WindowRules) -> list[tuple[str, int]]:
    """What each item emitted, as (kind, window number relative to T0's window)."""
    base = rules.window_of(T0)
    state: LeagueClock | None = None
    out: list[tuple[str, int]] = []
    for i in items:
        state, emitted = league_step(state, i, rules)
        out.extend((type(o).__name__, o.window - base) for o in emitted)
    return out


def test_a_window_closes_when_every_open_game_is_past_its_end_plus_the_wait() -> None:
    got = steps(
        [item(1, 1, 1), item(2, 1, 1), item(1, 8, 2), item(2, 6.5, 2), item(2, 7.5, 3)], LIVE
    )
    # game 1 at 19:08 alone does not close [19:00, 19:05): game 2 is at 19:01
    # game 2 at 19:06:30 is not past 19:05 + 2 min; at 19:07:30 it is
    assert got == [("ClosedWindow", 0)]


def test_an_item_behind_its_own_game_by_more_than_the_wait_is_late() -> None:
    got = steps([item(1, 10, 1), item(1, 2, 2), item(1, 6, 3)], BOUNDED)
    # 19:02's window ends 19:05 <= 19:10 - 2 min: late; 19:06's ends 19:10: counted
    assert got == [("LateItem", 0)]


def test_after_final_the_next_snapshots_items_are_late_and_the_game_holds_nothing() -> None:
    # the diff emits the Final status after the snapshot's plays: the marker comes last
    final = win.GameFinal(gamePk=1, final_ts="20240701_191000")
    same = item(1, 9, 2, ts="20240701_191000")  # the Final snapshot's own item: counted
    later = item(1, 9.5, 3, ts="20240701_191100")  # a later snapshot: late
    got = steps([item(2, 1, 1), item(1, 9, 1), same, final, later], LIVE)
    assert got == [("LateItem", 1)]  # and game 2 (at 19:01) still holds [19:05, 19:10)
    assert steps([item(1, 9, 1), same, final], LIVE) == [("ClosedWindow", 1)]


def test_an_idle_game_stops_holding_windows_and_holds_them_again_when_it_moves() -> None:
    rules = WindowRules(idle=timedelta(minutes=30))
    got = steps([item(1, 1, 1), item(2, 1, 1), item(2, 40, 2)], rules)
    assert got == [("ClosedWindow", 0)]  # game 1 idle: 39 min behind
    held = [item(1, 1, 1), item(2, 1, 1), item(2, 20, 2)]
    assert steps(held, rules) == []  # game 1, 19 min behind, is not idle
    assert steps([*held, item(1, 12, 2)], rules) == [("ClosedWindow", 0)]  # it moved to 19:12


def test_in_live_mode_a_game_first_seen_after_its_window_closed_is_late() -> None:
    got = steps([item(1, 1, 1), item(1, 9, 2), item(2, 2, 1)], LIVE)
    assert got == [("ClosedWindow", 0), ("LateItem", 0)]
    assert steps([item(1, 1, 1), item(1, 9, 2), item(2, 2, 1)], BOUNDED) == []


def test_the_state_survives_a_msgpack_round_trip() -> None:
    state: LeagueClock | None = None
    for i in [item(1, 1, 1), win.GameFinal(gamePk=1, final_ts="x"), item(2, 3, 1)]:
        state, _ = league_step(state, i, BOUNDED)
    assert state is not None
    copied = msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=LeagueClock)
    assert copied == state
    assert close_all(copied)[1] == close_all(state)[1]
