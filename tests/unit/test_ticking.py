"""Finished games' state is released by wall-clock ticks even when no item comes after Final."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from flows.game.envelope import parse_feed_timestamp
from flows.game.release import DEFAULT_GRACE, DEFAULT_MAX_IDLE
from flows.game.snapshot_diff import flow_step
from flows.ticking import TickingLogic
from sim.simulate import simulate

pytestmark = pytest.mark.unit

EVERY = timedelta(minutes=5)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_final_game_is_released_by_a_tick_after_the_grace_period(
    fixture_feed: dict[str, Any],
) -> None:
    final_at = parse_feed_timestamp(fixture_feed["metaData"]["timeStamp"])
    clock = FakeClock(final_at)
    logic: TickingLogic[Any, Any, Any] = TickingLogic(flow_step, None, EVERY, clock)

    events, discard = logic.on_item(orjson.dumps(fixture_feed))
    assert list(events) and not discard  # the game's events; state kept
    assert logic.notify_at() == final_at + EVERY

    clock.now = final_at + DEFAULT_GRACE - timedelta(seconds=1)
    events, discard = logic.on_notify()
    assert list(events) == [] and not discard  # within the grace period: kept
    assert logic.notify_at() == clock.now + EVERY

    clock.now = final_at + DEFAULT_GRACE
    events, discard = logic.on_notify()
    assert list(events) == [] and discard  # released: Bytewax forgets the key


def test_a_live_game_is_kept_by_ticks_until_it_has_had_no_news_for_max_idle(
    fixture_feed: dict[str, Any],
) -> None:
    middle = simulate(fixture_feed, 25)[3]
    newest = parse_feed_timestamp(middle["metaData"]["timeStamp"])
    clock = FakeClock(newest)
    logic: TickingLogic[Any, Any, Any] = TickingLogic(flow_step, None, EVERY, clock)
    _, discard = logic.on_item(orjson.dumps(middle))
    assert not discard
    clock.now = newest + DEFAULT_MAX_IDLE - timedelta(seconds=1)
    _, discard = logic.on_notify()
    assert not discard
    assert logic.snapshot().snapshots == 1  # the state survives for recovery snapshots
    clock.now = newest + DEFAULT_MAX_IDLE
    _, discard = logic.on_notify()
    assert discard  # no news for max_idle: released, never held for ever
