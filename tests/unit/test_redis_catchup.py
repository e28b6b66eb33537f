"""The Redis live-state sink's logic without Redis: pending states, backoff, catch-up,
refusals (``connectors/redis_catchup.py``), with a fake store and a fake clock; and the
pure helpers of ``connectors/redis_state.py``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from connectors.redis_catchup import (
    Backoff,
    LiveStateWriter,
    PendingStates,
    StoreUnavailableError,
    backoff_delay,
)
from connectors.redis_state import is_server_error, redacted_url
from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.stats.live_box import LiveStats

pytestmark = pytest.mark.unit


def state(pk: int, ts: str, *, final: bool = False) -> LiveStats:
    return LiveStats(
        gamePk=pk,
        source_ts=ts,
        abstractGameState="Final" if final else "Live",
        detailedState=None,
        box={},
        innings=(),
        away_runs=0,
        away_hits=0,
        away_errors=0,
        home_runs=0,
        home_hits=0,
        home_errors=0,
        events=0,
    )


class FakeStore:
    """A store that is up or down, refuses some source_ts, and may break on one game."""

    def __init__(self) -> None:
        self.up = True
        self.refused: set[str] = set()
        self.breaks_on: int | None = None  # a game whose value breaks the connection
        self.stored: dict[int, str] = {}
        self.calls: list[list[int]] = []

    def write(self, states: Sequence[LiveStats]) -> list[str | None]:
        self.calls.append([s.gamePk for s in states])
        if not self.up:
            raise StoreUnavailableError("ConnectionError: refused", suspect_value=True)
        if self.breaks_on in {s.gamePk for s in states}:
            raise StoreUnavailableError("ConnectionError: reset", suspect_value=True)
        out: list[str | None] = []
        for s in states:
            if s.source_ts in self.refused:
                out.append("bad value")
            else:
                self.stored[s.gamePk] = max(self.stored.get(s.gamePk, ""), s.source_ts)
                out.append(None)
        return out

    def answers(self) -> bool:
        return self.up


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def writer(
    store: FakeStore, letters: list[DeadLetter] | None = None
) -> tuple[LiveStateWriter, Clock]:
    clock = Clock()
    rejects = None if letters is None else letters.append
    return LiveStateWriter(store, "redis://h:1/0", rejects, clock=clock), clock


# --- pending states -------------------------------------------------------------------


def test_pending_keeps_the_newest_state_of_each_game() -> None:
    pending = PendingStates()
    pending.add([state(1, "20240701_190000"), state(2, "20240701_190500")])
    pending.add([state(1, "20240701_185000")])  # older: ignored
    newer = state(2, "20240701_191000")
    pending.add([newer])
    assert pending.games() == [1, 2]
    taken = pending.take()
    assert [(s.gamePk, s.source_ts) for s in taken] == [
        (1, "20240701_190000"),
        (2, "20240701_191000"),
    ]
    assert taken[1] is newer and len(pending) == 0


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 99)), max_size=60))
def test_pending_is_bounded_by_the_games(raw: list[tuple[int, int]]) -> None:
    pending = PendingStates()
    for pk, ts in raw:
        pending.add([state(pk, f"{ts:04d}")])
    assert len(pending) == len({pk for pk, _ in raw})
    for kept in pending.take():
        assert kept.source_ts == max(f"{ts:04d}" for pk, ts in raw if pk == kept.gamePk)


# --- backoff --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (10_000, 30.0)],
)
def test_backoff_doubles_up_to_its_cap(failures: int, delay: float) -> None:
    assert backoff_delay(failures, 0.5, 30.0) == delay


def test_backoff_waits_after_failures_and_resets_on_success() -> None:
    backoff = Backoff()
    assert backoff.ready(0.0)
    assert backoff.failed(10.0) == 0.5
    assert not backoff.ready(10.4) and backoff.ready(10.5)
    assert backoff.failed(10.5) == 1.0
    assert not backoff.ready(11.4) and backoff.ready(11.5)
    backoff.succeeded()
    assert backoff.ready(11.5) and backoff.failures == 0


# --- the writer -----------------------------------------------------------------------


def test_a_down_store_never_raises_and_catch_up_writes_the_newest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore()
    w, clock = writer(store)
    store.up = False
    with caplog.at_level(logging.INFO, "connectors.redis_catchup"):
        w.write([state(1, "20240701_190000"), state(2, "20240701_190000")])
        w.write([state(1, "20240701_190100")])  # within the backoff: no attempt
        clock.now += 0.6
        w.write([state(3, "20240701_190000")])  # an attempt, fails again
        w.write([state(1, "20240701_190200")])
        assert len(store.calls) == 2 and w.pending_games == [1, 2, 3]
        store.up = True
        clock.now += 1.0
        w.write([state(2, "20240701_185900")])  # older than the pending one
    assert store.stored == {1: "20240701_190200", 2: "20240701_190000", 3: "20240701_190000"}
    assert w.pending_games == []
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in lines] == ["WARNING", "INFO"]
    assert "redis://h:1/0 unreachable (ConnectionError: refused)" in lines[0][1]
    assert "caught up 3 games" in lines[1][1]


def test_a_refused_value_is_a_dead_letter_and_the_others_are_written() -> None:
    store = FakeStore()
    letters: list[DeadLetter] = []
    w, _ = writer(store, letters)
    store.refused = {"20240701_190500"}
    bad = state(2, "20240701_190500")
    w.write([state(1, "20240701_190000"), bad, state(3, "20240701_190000")])
    assert store.stored == {1: "20240701_190000", 3: "20240701_190000"}
    [letter] = letters
    assert letter.error_class is ErrorClass.REDIS_REJECTED and letter.gamePk == 2
    assert "20240701_190500" in letter.reason and "bad value" in letter.reason
    assert letter.original_value == msgspec.json.encode(bad)
    assert w.pending_games == []  # a refused state is not retried


def test_a_value_that_breaks_the_connection_is_isolated() -> None:
    store = FakeStore()
    letters: list[DeadLetter] = []
    w, _ = writer(store, letters)
    store.breaks_on = 2
    w.write([state(pk, "20240701_190000") for pk in (1, 2, 3)])
    assert store.stored == {1: "20240701_190000", 3: "20240701_190000"}
    assert [letter.gamePk for letter in letters] == [2]
    assert "answers PING (ConnectionError: reset)" in letters[0].reason
    assert store.calls == [[1, 2, 3], [1], [2], [3]]


def test_without_rejects_a_refused_value_is_logged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore()
    w, _ = writer(store)
    store.refused = {"20240701_190000"}
    w.write([state(7, "20240701_190000")])
    assert w.pending_games == []
    assert "refused game 7 at 20240701_190000, dropped: bad value" in caplog.text


def test_close_makes_one_last_attempt_then_names_what_is_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore()
    w, _ = writer(store)
    store.up = False
    w.write([state(1, "20240701_190000")])
    store.up = True
    w.write([state(2, "20240701_190000")])  # within the backoff: kept
    w.close()  # backoff or not
    assert store.stored == {1: "20240701_190000", 2: "20240701_190000"}

    down = FakeStore()
    w, _ = writer(down)
    down.up = False
    w.write([state(4, "20240701_190000"), state(5, "20240701_190000")])
    w.close()
    assert len(down.calls) == 2
    assert "newest state of 2 games was not written: [4, 5]" in caplog.text


# --- pure helpers of the Redis edge ---------------------------------------------------


def test_log_lines_name_redis_without_its_password() -> None:
    assert redacted_url("redis://:s3cret@cache:6380/1") == "redis://:***@cache:6380/1"
    assert redacted_url("rediss://app:s3cret@cache/0") == "rediss://app:***@cache/0"
    assert redacted_url("redis://127.0.0.1:16379/0") == "redis://127.0.0.1:16379/0"


@pytest.mark.parametrize(
    ("error", "server"),
    [
        (redis.exceptions.OutOfMemoryError("command not allowed"), True),
        (redis.exceptions.ReadOnlyError("You can't write against a read only replica."), True),
        (redis.ResponseError("MISCONF Redis is configured to save RDB snapshots"), True),
        (redis.ResponseError("BUSY Redis is busy running a script"), True),
        (redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind"), False),
        (redis.ResponseError("source_ts x is not YYYYMMDD_HHMMSS script: 1a2b"), False),
        (redis.ResponseError("Protocol error: invalid bulk length"), False),
    ],
)
def test_server_errors_are_told_from_refused_values(
    error: redis.ResponseError, server: bool
) -> None:
    assert is_server_error(error) is server
