"""Validation's one scan of a feed (``flows.game.validate``, ``flows.game.feed_views.FeedScan``),
shared with the engine: the head it hands the diff, the play cache, where a play's wrong
type is reported. Real snapshots of game 744914 (helpers in ``test_validate.py``)."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.game import validate
from flows.game.dead_letters import ErrorClass
from flows.game.feed import decode_head
from flows.game.snapshot_diff import SnapshotError, step
from flows.game.validate import check_feed
from sim.simulate import simulate
from tests.conftest import FIXTURE_GAME_PK
from tests.unit.test_validate import (
    CASES,
    FEED,
    FEED_BYTES,
    KEY,
    LIMIT,
    MID_GAME,
    PLAY5,
    _replaced,
    _set,
    _validate,
    json_values,
    paths,
)

pytestmark = pytest.mark.unit


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=paths(), value=json_values, delete=st.booleans())
def test_an_accepted_corruption_gives_the_engine_the_head_it_would_decode(
    path: list[str | int], value: Any, delete: bool
) -> None:
    """Validation's one scan stands in for the engine's: whatever it accepts, its head is
    the head the engine decodes from the bytes, and the diff emits the same from either."""
    body = orjson.dumps(_replaced(FEED, path, value, delete=delete))
    check = check_feed(body, key=KEY, envelope_game_pk=FIXTURE_GAME_PK, max_bytes=LIMIT)
    if check.failure is not None:
        assert check.head is None
        return
    assert check.head is not None and check.head == decode_head(body)
    state, _ = step(None, FEED_BYTES)
    before = pickle.dumps(state)
    try:
        _, by_bytes = step(pickle.loads(before), body)
    except SnapshotError:
        with pytest.raises(SnapshotError):
            step(pickle.loads(before), body, check.head)
        return
    _, by_head = step(pickle.loads(before), body, check.head)
    assert by_head == by_bytes


@pytest.mark.parametrize(
    ("corrupt", "where"),
    [
        (_set(f"{PLAY5}.about.atBatIndex", 5.5), "`$.liveData.plays.allPlays[5].about.atBatIndex`"),
        (_set(f"{PLAY5}.count.balls", "3"), "`$.liveData.plays.allPlays[5].count.balls`"),
        (_set(PLAY5, [1]), "`$.liveData.plays.allPlays[5]`"),
        (
            _set("liveData.plays.currentPlay.count.outs", "1", MID_GAME),
            "`$.liveData.plays.currentPlay.count.outs`",
        ),
    ],
    ids=["atBatIndex", "balls", "play_array", "currentPlay"],
)
def test_a_wrong_type_in_a_play_is_located_from_the_feeds_root(
    corrupt: Callable[[], bytes], where: str
) -> None:
    failure = _validate(corrupt())
    assert failure is not None and failure[0] is ErrorClass.WRONG_TYPE
    assert failure[1].endswith(f" - at {where}"), failure[1]


def test_a_wrong_type_in_what_the_engine_reads_is_refused_at_validation() -> None:
    """The scan reads the engine's head too: a status detail or a team id of the wrong
    type is ``wrong_type`` here, as the engine would refuse it."""
    for path, value in (("gameData.status.detailedState", 7), ("gameData.teams.home.id", "x")):
        failure = _validate(_set(path, value)())
        assert failure is not None and failure[0] is ErrorClass.WRONG_TYPE, path


@pytest.mark.parametrize(("corrupt", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_play_cache_never_changes_a_verdict(
    corrupt: Callable[[], bytes], expected: ErrorClass, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = corrupt()
    monkeypatch.setattr(validate, "_play_checks", {})
    cold = _validate(body)
    _validate(FEED_BYTES)  # the intact plays are now known
    _validate(orjson.dumps(MID_GAME))
    assert _validate(body) == cold
    assert cold is not None and cold[0] is expected


def test_the_play_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    cache: dict[bytes, Any] = {}
    monkeypatch.setattr(validate, "_play_checks", cache)
    monkeypatch.setattr(validate, "PLAY_CHECKS_MAX", 10)
    assert len(FEED["liveData"]["plays"]["allPlays"]) > 10
    assert _validate(FEED_BYTES) is None
    assert 0 < len(cache) <= 10
    for snapshot in simulate(FEED, 9):
        assert _validate(orjson.dumps(snapshot)) is None
        assert len(cache) <= 10
