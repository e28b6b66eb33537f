"""The one release rule, the tick prologue and the release signal (flows.game.release), alone
and in the flow's order: the snapshot diff judges, the statistics follow its signal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.game.batches import EventBatch
from flows.game.envelope import parse_feed_timestamp
from flows.game.events import GameEvent, Retraction
from flows.game.release import (
    DEFAULT_GRACE,
    DEFAULT_MAX_IDLE,
    Released,
    Tick,
    final_ts_after,
    is_idle,
    is_released,
    releasing,
    source_ts_of,
)
from flows.game.snapshot_diff import GameState, flow_step, newest_ts_of, step
from flows.stats.live_box import GameBoxState, LiveStats, live_step
from flows.stats.pitchers import PitcherGameState, pitcher_step
from flows.stats.windows import WindowFeedState, window_feed_step
from sim.simulate import simulate
from tests.conftest import load_fixture_feed

pytestmark = pytest.mark.unit

JSON = dict[str, Any]
T0 = datetime(2024, 7, 1, 18, 0, tzinfo=UTC)
FORMAT = "%Y%m%d_%H%M%S"


def _stamp(at: datetime) -> str:
    return at.strftime(FORMAT)


# --- the rule ------------------------------------------------------------------------------

seconds = st.integers(min_value=0, max_value=10 * 24 * 3600)


@given(final=seconds, now=seconds, grace=st.integers(min_value=0, max_value=6 * 3600))
def test_released_exactly_from_final_plus_grace(final: int, now: int, grace: int) -> None:
    final_ts = _stamp(T0 + timedelta(seconds=final))
    at, wait = T0 + timedelta(seconds=now), timedelta(seconds=grace)
    assert is_released(final_ts, at, wait) is (now >= final + grace)
    if is_released(final_ts, at, wait):  # and never taken back later
        assert is_released(final_ts, at + timedelta(seconds=1), wait)


@given(now=seconds)
def test_a_game_never_final_is_never_released(now: int) -> None:
    assert not is_released(None, T0 + timedelta(seconds=now), timedelta(0))


@given(newest=seconds, now=seconds, idle=st.integers(min_value=1, max_value=3 * 24 * 3600))
def test_idle_exactly_from_the_newest_feed_time_plus_max_idle(
    newest: int, now: int, idle: int
) -> None:
    newest_ts = _stamp(T0 + timedelta(seconds=newest))
    at, max_idle = T0 + timedelta(seconds=now), timedelta(seconds=idle)
    assert is_idle(newest_ts, at, max_idle) is (now >= newest + idle)
    assert not is_idle("", at, max_idle)  # a state that has taken no feed time


def test_the_prologue_uses_the_default_max_idle() -> None:
    state, _ = toy_mapper(None, Item(_stamp(T0)))
    assert state is not None
    assert toy_mapper(state, Tick(T0 + DEFAULT_MAX_IDLE - timedelta(seconds=1)))[0] is state
    assert toy_mapper(state, Tick(T0 + DEFAULT_MAX_IDLE))[0] is None


def test_default_grace_is_two_hours() -> None:
    final = _stamp(T0)
    assert not is_released(final, T0 + timedelta(hours=2) - timedelta(seconds=1))
    assert is_released(final, T0 + timedelta(hours=2))
    assert timedelta(hours=2) == DEFAULT_GRACE


def _status(ts: str, abstract: str, action: str = "status") -> GameEvent:
    return GameEvent(
        event_id="game:1:status", gamePk=1, source_ts=ts, action=action, abstractGameState=abstract
    )


def test_final_ts_is_the_first_final_status_events_source_ts() -> None:
    gone = Retraction(
        event_id="pitch:1:0:0", gamePk=1, source_ts="20240701_200000", retracted_kind="pitch"
    )
    table: list[tuple[str | None, Any, str | None]] = [
        (None, _status("20240701_200000", "Live"), None),
        (None, gone, None),
        (None, _status("20240701_200000", "Final", action="substitution"), None),
        (None, _status("20240701_210000", "Final"), "20240701_210000"),
        ("20240701_210000", _status("20240701_220000", "Final"), "20240701_210000"),
        ("20240701_210000", _status("20240701_220000", "Live"), "20240701_210000"),
    ]
    for before, event, after in table:
        assert final_ts_after(before, event) == after, event


# --- the tick prologue, on a toy step --------------------------------------------------------


@dataclass
class Toy:
    final_ts: str | None = None
    newest_ts: str = ""
    seen: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Item:
    source_ts: str
    final: bool = False


def toy_step(state: Toy | None, item: Item) -> tuple[Toy, list[str]]:
    state = state or Toy()
    state.seen.append(item.source_ts)
    if item.final and state.final_ts is None:
        state.final_ts = item.source_ts
    return state, [item.source_ts]


toy_mapper = releasing(toy_step, source_ts_of)

minutes = st.integers(min_value=0, max_value=600)
stamps = minutes.map(lambda m: _stamp(T0 + timedelta(minutes=m)))
# an item without a feed time is never judged (a Final one has one: metaData.timeStamp)
items = st.one_of(st.builds(Item, st.just("")), st.builds(Item, stamps, st.booleans()))
ticks = minutes.map(lambda m: Tick(now=T0 + timedelta(minutes=m)))


@given(
    st.lists(st.one_of(items, ticks), max_size=30),
    st.integers(min_value=0, max_value=300).map(lambda m: timedelta(minutes=m)),
    st.integers(min_value=1, max_value=600).map(lambda m: timedelta(minutes=m)),
)
def test_the_prologue_steps_items_and_only_releases_on_ticks(
    sequence: list[Item | Tick], grace: timedelta, max_idle: timedelta
) -> None:
    state: Toy | None = None
    for item in sequence:
        before, seen = state, list(state.seen) if state is not None else []
        newest = before.newest_ts if before is not None else ""
        state, out = toy_mapper(state, item, grace, max_idle)
        if isinstance(item, Tick):
            assert out == []  # a Tick never reaches the step
            released = (
                before is None
                or is_released(before.final_ts, item.now, grace)
                or is_idle(before.newest_ts, item.now, max_idle)
            )
            assert state is (None if released else before)
            assert state is None or state.seen == seen
            continue
        assert out == [item.source_ts]  # the step's outputs, untouched
        kept = before if before is not None else Toy()  # a released game starts over
        final_ts = kept.final_ts or (item.source_ts if item.final else None)
        at = parse_feed_timestamp(item.source_ts) if item.source_ts else None
        released = at is not None and is_released(final_ts, at, grace)
        if released:
            assert state is None
        else:
            assert state is not None and state.seen == [*seen, item.source_ts]
            assert before is None or state is before
            assert state.newest_ts == max(newest, item.source_ts)  # the prologue keeps it


def test_the_prologue_uses_the_default_grace() -> None:
    final = _stamp(T0)
    state, _ = toy_mapper(None, Item(final, final=True))
    assert state is not None
    assert toy_mapper(state, Item(_stamp(T0 + DEFAULT_GRACE - timedelta(seconds=1))))[0] is state
    assert toy_mapper(state, Item(_stamp(T0 + DEFAULT_GRACE)))[0] is None


def test_a_step_without_state_is_not_judged() -> None:
    def stateless(_state: Toy | None, _item: Item) -> tuple[Toy | None, list[str]]:
        return None, ["refused"]

    def never(_state: Toy, _item: Item) -> str:
        raise AssertionError("judged")

    assert releasing(stateless, never)(None, Item("20240701_200000")) == (None, ["refused"])


signalled = releasing(toy_step, source_ts_of, lambda state: f"released {state.seen[-1]}")


def test_a_release_is_signalled_after_the_steps_outputs() -> None:
    final = _stamp(T0)
    state, out = signalled(None, Item(final, final=True), timedelta(0))
    assert state is None and out == [final, f"released {final}"]
    state, out = signalled(None, Item(final), timedelta(0))
    assert state is not None and out == [final]  # kept: no signal
    assert signalled(state, Tick(T0 + DEFAULT_MAX_IDLE)) == (None, [f"released {final}"])
    assert signalled(None, Tick(T0 + DEFAULT_MAX_IDLE)) == (None, [])  # nothing to release


def test_the_diff_mapper_has_the_prologue() -> None:
    assert flow_step(None, Tick(now=T0)) == (None, [])


@pytest.mark.parametrize("mapper", [live_step, pitcher_step, window_feed_step])
def test_every_statistics_step_follows_the_diffs_signal(mapper: Any) -> None:
    assert mapper(None, Released(game_pk=1)) == (None, [])
    batch = EventBatch(
        1, date(2024, 7, 1), "20240701_200000", (_status("20240701_200000", "Live"),)
    )
    state, _ = mapper(None, batch)
    assert state is not None
    assert mapper(state, Released(game_pk=1)) == (None, [])


# --- the ordering guarantee, on the real engine ------------------------------------------------

FEED = load_fixture_feed()
FINAL_AT = parse_feed_timestamp(FEED["metaData"]["timeStamp"])
SNAPSHOTS = {every: simulate(FEED, every) for every in (40, 120)}
MAX_IDLE = timedelta(hours=3)

#: the diff as the flow wires it: a release is signalled downstream
diff_step = releasing(step, newest_ts_of, lambda state: Released(game_pk=state.game_pk))


def _restamped(at: datetime) -> JSON:
    """The final feed polled again at ``at`` (same content, newer ``metaData.timeStamp``)."""
    return {**FEED, "metaData": {**FEED["metaData"], "timeStamp": _stamp(at)}}


@dataclass
class Chain:
    """The per-game states of the flow for one game, in its order: ticks reach the diff
    only (the statistics have none); the statistics take the diff's batches and signals."""

    diff: GameState | None = None
    box: GameBoxState | None = None
    pitchers: PitcherGameState | None = None
    windows: WindowFeedState | None = None

    def stats(self) -> tuple[object | None, ...]:
        return self.box, self.pitchers, self.windows

    def take(self, item: JSON | Tick, grace: timedelta) -> list[LiveStats]:
        """The flow's steps for one item; the live box scores they emitted."""
        self.diff, out = diff_step(self.diff, item, grace, MAX_IDLE)
        events = tuple(e for e in out if not isinstance(e, Released))
        followers: list[EventBatch | Released] = [o for o in out if isinstance(o, Released)]
        if not isinstance(item, Tick):
            ts = item["metaData"]["timeStamp"]
            followers.insert(0, EventBatch(FEED["gamePk"], date(2024, 7, 1), ts, events))
        emitted: list[LiveStats] = []
        for signal in followers:
            self.box, live = live_step(self.box, signal)
            self.pitchers, _ = pitcher_step(self.pitchers, signal)
            self.windows, _ = window_feed_step(self.windows, signal)
            emitted.extend(live)
        return emitted


def _alone(snapshot: JSON) -> LiveStats:
    """The live box score of ``snapshot`` folded from nothing: what a complete fold gives."""
    (live,) = Chain().take(snapshot, DEFAULT_GRACE)
    return live


@settings(max_examples=25, deadline=None)
@given(
    every=st.sampled_from(sorted(SNAPSHOTS)),
    late=st.lists(st.integers(min_value=0, max_value=300), max_size=4),
    tick_at=st.lists(
        st.tuples(st.integers(min_value=0, max_value=40), st.integers(-60, 300)), max_size=5
    ),
    grace=st.sampled_from([timedelta(0), timedelta(minutes=30), DEFAULT_GRACE]),
)
def test_the_statistics_never_fold_a_fragment(
    every: int, late: list[int], tick_at: list[tuple[int, int]], grace: timedelta
) -> None:
    """Snapshots, then the final feed polled again later, with ticks anywhere: every live
    box score the flow emits equals the one its snapshot gives folded from nothing, and the
    statistics hold a game exactly while the diff does."""
    sequence: list[JSON | Tick] = [*SNAPSHOTS[every]]
    sequence += [_restamped(FINAL_AT + timedelta(minutes=m)) for m in sorted(late)]
    for position, offset in tick_at:
        sequence.insert(min(position, len(sequence)), Tick(FINAL_AT + timedelta(minutes=offset)))
    chain = Chain()
    for item in sequence:
        for live in chain.take(item, grace):
            assert not isinstance(item, Tick)
            assert live == _alone(item), item["metaData"]["timeStamp"]
        held = [state is not None for state in chain.stats()]
        assert held == [chain.diff is not None] * 3, item


@settings(max_examples=20, deadline=None)
@given(
    cut=st.integers(min_value=1, max_value=len(SNAPSHOTS[40]) - 2),
    tick_at=st.lists(st.integers(min_value=0, max_value=4 * 60), min_size=1, max_size=6),
)
def test_a_game_without_news_is_released_by_the_diff_and_its_followers(
    cut: int, tick_at: list[int]
) -> None:
    """A game that stops before Final (its feed no longer updated): ticks after its newest
    snapshot release the diff at ``max_idle``, and the statistics with it."""
    sequence = SNAPSHOTS[40][:cut]
    newest = parse_feed_timestamp(sequence[-1]["metaData"]["timeStamp"])
    assert sequence[-1]["gameData"]["status"]["abstractGameState"] != "Final"
    chain = Chain()
    for item in sequence:
        chain.take(item, DEFAULT_GRACE)
    for minutes in sorted(tick_at):
        now = newest + timedelta(minutes=minutes)
        chain.take(Tick(now), DEFAULT_GRACE)
        gone = now >= newest + MAX_IDLE
        assert (chain.diff is None) is gone
        assert all((state is None) is gone for state in chain.stats())
