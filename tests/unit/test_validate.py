"""Snapshot validation (``flows.game.validate``) on real MLB feeds, intact and corrupted.

Every corruption below starts from a real snapshot (game 744914, kept in the repository,
final or as simulated mid-game) and breaks exactly one thing; the comment of each case
says what. Real feeds of every season and every simulated snapshot of them must pass.
The flow's first step (envelope, bounded inflate, validation) is tested in
``test_validate_decode.py``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.game.dead_letters import ErrorClass
from flows.game.snapshot_diff import SnapshotError, step
from flows.game.validate import validate_feed
from sim.simulate import simulate
from tests.conftest import FIXTURE_GAME_PK, corpus_feed_paths, load_fixture_feed

pytestmark = pytest.mark.unit

JSON = dict[str, Any]
FEED = load_fixture_feed()
FEED_BYTES = orjson.dumps(FEED)
KEY = str(FIXTURE_GAME_PK).encode()
LIMIT = 16 * 1024 * 1024
# mid-game: the bottom of the 4th in progress (its ``runs`` absent, as MLB shows it)
MID_GAME = next(
    s
    for s in simulate(FEED, 1)
    if s["liveData"]["linescore"]["inningHalf"] == "Bottom"
    and s["liveData"]["linescore"]["currentInning"] == 4
    and not s["liveData"]["plays"]["currentPlay"]["about"]["isComplete"]
)


def _validate(body: bytes, *, key: bytes | None = KEY, game_pk: int = FIXTURE_GAME_PK) -> Any:
    return validate_feed(body, key=key, envelope_game_pk=game_pk, max_bytes=LIMIT)


def _copy(feed: JSON) -> JSON:
    copied: JSON = orjson.loads(orjson.dumps(feed))
    return copied


# --- real snapshots pass -----------------------------------------------------------------


def test_the_fixture_feed_and_each_of_its_simulated_snapshots_pass() -> None:
    assert _validate(FEED_BYTES) is None
    snapshots = simulate(FEED, 1)
    assert len(snapshots) > 200
    assert all(_validate(orjson.dumps(s)) is None for s in snapshots)


def test_what_validation_does_not_read_may_come_and_go() -> None:
    feed = _copy(MID_GAME)
    del feed["liveData"]["boxscore"], feed["gameData"]["players"], feed["liveData"]["linescore"]
    feed["liveData"]["plays"]["allPlays"][0]["absChallenges"] = {"new": "field"}
    feed["gameData"]["datetime"] = None
    assert _validate(orjson.dumps(feed)) is None


def test_the_key_is_optional() -> None:
    assert _validate(FEED_BYTES, key=None) is None


@pytest.mark.corpus
def test_every_real_and_simulated_corpus_snapshot_passes(data_dir: Path) -> None:
    paths = [*corpus_feed_paths(), *sorted((data_dir / "mlb" / "snapshots").glob("*/*.json"))]
    assert len(paths) >= 12
    checked = 0
    for path in paths:
        body = path.read_bytes()
        feed = orjson.loads(body)
        game_pk = feed["gamePk"]
        assert _validate(body, key=str(game_pk).encode(), game_pk=game_pk) is None, path
        if feed["gameData"]["status"]["abstractGameState"] == "Final":
            for snapshot in simulate(feed, 1):
                assert _validate(orjson.dumps(snapshot), game_pk=game_pk, key=None) is None
                checked += 1
    assert checked > 2000


# --- one corruption per class ------------------------------------------------------------


def _replaced(node: Any, path: list[str | int], value: Any, *, delete: bool) -> Any:
    """A copy of ``node`` with the value at ``path`` replaced or deleted (shallow copies)."""
    head, rest = path[0], path[1:]
    copied: Any = dict(node) if isinstance(node, dict) else list(node)
    if rest:
        copied[head] = _replaced(node[head], rest, value, delete=delete)
    elif delete:
        del copied[head]
    else:
        copied[head] = value
    return copied


def _path(dotted: str) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in dotted.split(".")]


def _set(path: str, value: Any, base: JSON = FEED) -> Callable[[], bytes]:
    """``path`` (dotted, list indexes as numbers) set to ``value`` in a copy of ``base``."""
    return lambda: orjson.dumps(_replaced(base, _path(path), value, delete=False))


def _delete(path: str, base: JSON = FEED) -> Callable[[], bytes]:
    """``path`` removed from a copy of ``base``."""
    return lambda: orjson.dumps(_replaced(base, _path(path), None, delete=True))


def _swap_plays(i: int, j: int) -> Callable[[], bytes]:
    """allPlays[i] and allPlays[j] exchanged (each keeps its own atBatIndex)."""

    def corrupt() -> bytes:
        feed = _copy(FEED)
        plays = feed["liveData"]["plays"]["allPlays"]
        plays[i], plays[j] = plays[j], plays[i]
        return orjson.dumps(feed)

    return corrupt


def _runs_plus_one(path: str, base: JSON) -> Callable[[], bytes]:
    """One run added to ``path`` (a side's total or one inning's runs)."""

    def corrupt() -> bytes:
        feed = _copy(base)
        node: Any = feed["liveData"]["linescore"]
        for part in path.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        node["runs"] = node.get("runs", 0) + 1
        return orjson.dumps(feed)

    return corrupt


def _huge_game_pk() -> bytes:
    """gamePk as a 31-digit integer (beyond 64 bits)."""
    assert FEED_BYTES.startswith(b'{"copyright"') and b',"gamePk":744914,' in FEED_BYTES
    return FEED_BYTES.replace(b',"gamePk":744914,', b',"gamePk":1' + b"0" * 30 + b",", 1)


PLAY5 = "liveData.plays.allPlays.5"
LINE = "liveData.linescore"
CASES: list[tuple[str, Callable[[], bytes], ErrorClass]] = [
    # not JSON: the real feed cut in the middle
    ("truncated", lambda: FEED_BYTES[: len(FEED_BYTES) // 2], ErrorClass.UNPARSABLE),
    # not JSON: empty body (an HTTP 204 stored as a snapshot)
    ("empty", lambda: b"", ErrorClass.UNPARSABLE),
    # JSON but not an object: the real feed wrapped in a list
    ("array", lambda: b"[" + FEED_BYTES + b"]", ErrorClass.UNPARSABLE),
    # a type error early in a body that is cut later is still not JSON
    (
        "truncated_after_type_error",
        lambda: _set("gamePk", "x")()[: len(FEED_BYTES) // 2],
        ErrorClass.UNPARSABLE,
    ),
    ("no_gamePk", _delete("gamePk"), ErrorClass.MISSING_FIELD),
    ("no_timeStamp", _delete("metaData.timeStamp"), ErrorClass.MISSING_FIELD),
    ("no_metaData", _delete("metaData"), ErrorClass.MISSING_FIELD),
    ("no_status", _delete("gameData.status.abstractGameState"), ErrorClass.MISSING_FIELD),
    ("no_gameData", _delete("gameData"), ErrorClass.MISSING_FIELD),
    ("no_allPlays", _delete("liveData.plays.allPlays"), ErrorClass.MISSING_FIELD),
    ("no_liveData", _delete("liveData"), ErrorClass.MISSING_FIELD),
    ("no_atBatIndex", _delete(f"{PLAY5}.about.atBatIndex"), ErrorClass.MISSING_FIELD),
    ("no_about", _delete(f"{PLAY5}.about"), ErrorClass.MISSING_FIELD),
    # gamePk as a string of the right digits
    ("gamePk_string", _set("gamePk", str(FIXTURE_GAME_PK)), ErrorClass.WRONG_TYPE),
    ("allPlays_object", _set("liveData.plays.allPlays", {}), ErrorClass.WRONG_TYPE),
    ("status_null", _set("gameData.status", None), ErrorClass.WRONG_TYPE),
    # a gamePk beyond 64 bits (JSON allows it): another game, not a crash
    ("gamePk_huge", _huge_game_pk, ErrorClass.GAME_PK_MISMATCH),
    ("timeStamp_int", _set("metaData.timeStamp", 20240701), ErrorClass.WRONG_TYPE),
    ("timeStamp_format", _set("metaData.timeStamp", "2024-07-01T21:44"), ErrorClass.WRONG_TYPE),
    ("atBatIndex_float", _set(f"{PLAY5}.about.atBatIndex", 5.5), ErrorClass.WRONG_TYPE),
    ("runs_string", _set(f"{LINE}.teams.home.runs", "1"), ErrorClass.WRONG_TYPE),
    ("balls_bool", _set(f"{PLAY5}.count.balls", True), ErrorClass.WRONG_TYPE),
    # the payload of another game under this game's envelope and key
    ("payload_gamePk", _set("gamePk", FIXTURE_GAME_PK + 1), ErrorClass.GAME_PK_MISMATCH),
    ("home_total", _runs_plus_one("teams.home", FEED), ErrorClass.SCORE_MISMATCH),
    ("away_inning", _runs_plus_one("innings.2.away", FEED), ErrorClass.SCORE_MISMATCH),
    # mid-game: a run in the half in progress (whose ``runs`` MLB omits) but not in the total
    ("live_inning", _runs_plus_one("innings.3.home", MID_GAME), ErrorClass.SCORE_MISMATCH),
    ("linescore_outs_4", _set(f"{LINE}.outs", 4), ErrorClass.IMPOSSIBLE_STATE),
    ("linescore_balls_neg", _set(f"{LINE}.balls", -1), ErrorClass.IMPOSSIBLE_STATE),
    (
        "current_balls_5",
        _set("liveData.plays.currentPlay.count.balls", 5, MID_GAME),
        ErrorClass.IMPOSSIBLE_STATE,
    ),
    ("play_strikes_4", _set(f"{PLAY5}.count.strikes", 4), ErrorClass.IMPOSSIBLE_STATE),
    # a walk and a strikeout at once
    (
        "play_4_balls_3_strikes",
        _set(f"{PLAY5}.count", {"balls": 4, "strikes": 3, "outs": 1}),
        ErrorClass.IMPOSSIBLE_STATE,
    ),
    ("duplicate_at_bat", _set(f"{PLAY5}.about.atBatIndex", 4), ErrorClass.AT_BAT_INDEX),
    ("missing_at_bat", _delete(PLAY5), ErrorClass.AT_BAT_INDEX),
    ("swapped_at_bats", _swap_plays(5, 6), ErrorClass.AT_BAT_INDEX),
]


@pytest.mark.parametrize(("corrupt", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_corrupted_real_snapshot_is_refused_with_its_class(
    corrupt: Callable[[], bytes], expected: ErrorClass
) -> None:
    failure = _validate(corrupt())
    assert failure is not None
    error_class, reason = failure
    assert (error_class, bool(reason)) == (expected, True), reason


def test_every_validation_class_has_a_case() -> None:
    not_validation = {  # refused by other steps or by a sink
        ErrorClass.STALE,
        ErrorClass.LATE,
        ErrorClass.DB_REJECTED,
        ErrorClass.KAFKA_REJECTED,
        ErrorClass.REDIS_REJECTED,
    }
    assert {c[2] for c in CASES} | {ErrorClass.OVERSIZED} == set(ErrorClass) - not_validation


def test_a_payload_over_the_limit_is_oversized() -> None:
    assert (
        validate_feed(
            FEED_BYTES, key=KEY, envelope_game_pk=FIXTURE_GAME_PK, max_bytes=len(FEED_BYTES)
        )
        is None
    )
    failure = validate_feed(
        FEED_BYTES, key=KEY, envelope_game_pk=FIXTURE_GAME_PK, max_bytes=len(FEED_BYTES) - 1
    )
    assert failure is not None and failure[0] is ErrorClass.OVERSIZED


@pytest.mark.parametrize(
    ("key", "game_pk"),
    [(b"744915", FIXTURE_GAME_PK), (b"not-a-pk", FIXTURE_GAME_PK), (KEY, FIXTURE_GAME_PK + 1)],
    ids=["other_key", "bad_key", "other_envelope"],
)
def test_a_key_or_envelope_of_another_game_is_a_game_pk_mismatch(key: bytes, game_pk: int) -> None:
    failure = _validate(FEED_BYTES, key=key, game_pk=game_pk)
    assert failure is not None and failure[0] is ErrorClass.GAME_PK_MISMATCH


def test_the_reason_names_the_field() -> None:
    assert _validate(_delete(f"{PLAY5}.about.atBatIndex")()) == (
        ErrorClass.MISSING_FIELD,
        "liveData.plays.allPlays[5].about.atBatIndex is missing",
    )
    failure = _validate(_set("gamePk", "x")())
    assert failure is not None and "$.gamePk" in failure[1]


def test_a_wrong_type_inside_a_play_is_refused_by_the_engine_leaving_state_intact() -> None:
    # validation does not read every play's types (cost); the engine refuses such a
    # snapshot with SnapshotError (a dead letter in the flow) before changing its state
    state, _ = step(None, orjson.dumps(FEED))
    before = pickle.dumps(state)
    body = _set(f"{PLAY5}.about.inning", "fifth")()
    assert _validate(body) is None
    with pytest.raises(SnapshotError):
        step(state, body)
    assert pickle.dumps(state) == before


# --- random single-field corruptions -----------------------------------------------------

INTERESTING = [
    ["gamePk"],
    ["metaData", "timeStamp"],
    ["gameData", "status", "abstractGameState"],
    ["liveData", "plays", "allPlays"],
    ["liveData", "plays", "allPlays", 7, "about", "atBatIndex"],
    ["liveData", "plays", "allPlays", 7, "count", "balls"],
    ["liveData", "plays", "currentPlay", "count", "outs"],
    ["liveData", "linescore", "teams", "away", "runs"],
    ["liveData", "linescore", "innings", 0, "home", "runs"],
    ["liveData", "linescore", "strikes"],
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@st.composite
def paths(draw: st.DrawFn) -> list[str | int]:
    """A path to one node of FEED: a known field, or a random walk from the root."""
    if draw(st.booleans()):
        return list(draw(st.sampled_from(INTERESTING)))
    path: list[str | int] = []
    node: Any = FEED
    while isinstance(node, dict | list) and node and draw(st.integers(0, 5)) != 0:
        if isinstance(node, dict):
            key = draw(st.sampled_from(sorted(node)))
            path.append(key)
            node = node[key]
        else:
            index = draw(st.integers(0, len(node) - 1))
            path.append(index)
            node = node[index]
    return path or ["gamePk"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=paths(), value=json_values, delete=st.booleans(), cut=st.none() | st.integers(0))
def test_a_random_single_field_corruption_never_raises(
    path: list[str | int], value: Any, delete: bool, cut: int | None
) -> None:
    body = orjson.dumps(_replaced(FEED, path, value, delete=delete))
    if cut is not None:
        body = body[: cut % (len(body) + 1)]
    failure = validate_feed(body, key=KEY, envelope_game_pk=FIXTURE_GAME_PK, max_bytes=LIMIT)
    if failure is not None:
        error_class, reason = failure
        assert isinstance(error_class, ErrorClass) and reason
