"""Finished games' state is released by ticks even when no item comes after Final; ticks
are scheduled by the wall clock and timed by the flow's clock (the newest feed time read)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.game.envelope import parse_feed_timestamp
from flows.game.release import DEFAULT_GRACE, DEFAULT_MAX_IDLE
from flows.game.snapshot_diff import flow_step
from flows.ticking import FlowClock, TickingLogic, resumed_state
from sim.simulate import simulate

pytestmark = pytest.mark.unit

EVERY = timedelta(minutes=5)
WALL = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # years after the recorded games


class FakeClock:
    def __init__(self, now: datetime | None) -> None:
        self.now = now

    def __call__(self) -> datetime | None:
        return self.now


def _logic(flow: FakeClock, wall: FakeClock) -> TickingLogic[Any, Any, Any]:
    return TickingLogic(flow_step, None, EVERY, flow, wall)  # type: ignore[arg-type]


def _saved(logic: TickingLogic[Any, Any, Any]) -> Any:
    """The state as a worker resumed from ``logic``'s recovery snapshot would hold it."""
    return resumed_state(pickle.loads(pickle.dumps(logic.snapshot())))


def test_a_final_game_is_released_by_a_tick_after_the_grace_period(
    fixture_feed: dict[str, Any],
) -> None:
    final_at = parse_feed_timestamp(fixture_feed["metaData"]["timeStamp"])
    flow, wall = FakeClock(final_at), FakeClock(WALL)
    logic = _logic(flow, wall)

    events, discard = logic.on_item(orjson.dumps(fixture_feed))
    assert list(events) and not discard  # the game's events; state kept
    assert logic.notify_at() == WALL + EVERY  # scheduled by the wall clock

    wall.now = WALL + EVERY
    events, discard = logic.on_notify()  # the wall clock is years on: the flow's is not
    assert list(events) == [] and not discard
    assert logic.notify_at() == wall.now + EVERY

    flow.now = final_at + DEFAULT_GRACE - timedelta(seconds=1)
    events, discard = logic.on_notify()
    assert list(events) == [] and not discard  # within the grace period: kept

    flow.now = final_at + DEFAULT_GRACE
    events, discard = logic.on_notify()
    assert list(events) == [] and discard  # released: Bytewax forgets the key


def test_a_live_game_is_kept_by_ticks_until_it_has_had_no_news_for_max_idle(
    fixture_feed: dict[str, Any],
) -> None:
    middle = simulate(fixture_feed, 25)[3]
    newest = parse_feed_timestamp(middle["metaData"]["timeStamp"])
    flow, wall = FakeClock(newest), FakeClock(WALL)
    logic = _logic(flow, wall)
    _, discard = logic.on_item(orjson.dumps(middle))
    assert not discard
    flow.now = newest + DEFAULT_MAX_IDLE - timedelta(seconds=1)
    _, discard = logic.on_notify()
    assert not discard
    assert _saved(logic).snapshots == 1  # the state survives for recovery snapshots
    flow.now = newest + DEFAULT_MAX_IDLE
    _, discard = logic.on_notify()
    assert discard  # no news for max_idle: released, never held for ever


def test_a_tick_before_the_flow_has_read_anything_does_nothing(
    fixture_feed: dict[str, Any],
) -> None:
    middle = simulate(fixture_feed, 25)[3]
    logic = _logic(FakeClock(None), FakeClock(WALL))
    logic.on_item(orjson.dumps(middle))
    assert logic.on_notify() == ((), False)
    assert _saved(logic).snapshots == 1


def test_an_unticked_logic_never_asks_to_be_notified() -> None:
    logic: TickingLogic[Any, Any, Any] = TickingLogic(flow_step, None, None)
    assert logic.notify_at() is None


@given(st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=10**9))))
def test_the_flow_clock_is_the_newest_time_it_was_given(offsets: list[int | None]) -> None:
    clock = FlowClock()
    for offset in offsets:
        clock.advance(None if offset is None else WALL + timedelta(seconds=offset))
    given_times = [WALL + timedelta(seconds=o) for o in offsets if o is not None]
    assert clock.now() == (max(given_times) if given_times else None)


def test_a_recovery_snapshot_is_the_state_at_the_end_of_its_epoch(
    fixture_feed: dict[str, Any],
) -> None:
    """The diff changes its state in place; a snapshot handed to Bytewax must not change
    with the items the step takes after it (Bytewax requires it immutable)."""
    feeds = simulate(fixture_feed, 25)[3:5]
    logic = _logic(FakeClock(None), FakeClock(WALL))
    logic.on_item(orjson.dumps(feeds[0]))
    saved = logic.snapshot()  # the end of the epoch
    logic.on_item(orjson.dumps(feeds[1]))  # the next epoch, before Bytewax pickles `saved`
    stored = pickle.dumps(saved)  # what Bytewax writes to the recovery store now

    resumed = resumed_state(pickle.loads(stored))  # what a resumed worker starts from
    assert resumed.newest_ts == feeds[0]["metaData"]["timeStamp"]
    assert resumed.newest_ts < logic.state().newest_ts  # type: ignore[union-attr]
    assert resumed.snapshots == 1
