"""``boxscore.result`` is incremental and exact: after any sequence of ``agg`` calls its JSON
is byte for byte the one a fold from scratch of the same events gives (``box_score``).

Inputs are real games: every final feed of the shared corpus (and the game kept in the
repository) as the snapshots ``sim.simulate`` makes of it, with and without delivery faults
and scoring corrections (revisions), through the real snapshot diff. The recorded games
make the diff emit no retraction, so the faulty sequences also have MLB take the last plays
of a snapshot back for one poll (``_withdrawing``: the same snapshot, same timestamp, with
its last 1-3 plays missing), which the diff answers with retractions and, at the next
poll, with the same events at a new revision.
"""

from __future__ import annotations

import pickle
import random
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.game import boxscore
from flows.game.boxscore import BoxScoreState, agg, box_score, initialize, result
from flows.game.events import Event, Retraction
from flows.game.snapshot_diff import GameState, step
from sim.simulate import simulate
from tests.conftest import corpus_feed_paths, load_fixture_feed

pytestmark = pytest.mark.unit

JSON = dict[str, Any]
PROTOCOL = pickle.HIGHEST_PROTOCOL  # as flows.ticking writes the recovery store
#: (every, simulate's perturbations, probability of a withdrawal after a snapshot)
Replay = tuple[int, dict[str, Any], float]
REPLAYS: dict[str, Replay] = {
    "plain": (3, {}, 0.0),
    "faulty": (
        3,
        {"seed": 11, "corrections": 0.5, "gaps": 0.2, "reorder": 0.2, "duplicates": 0.2},
        0.15,
    ),
    "faulty_every_pitch": (
        1,
        {"seed": 5, "corrections": 0.3, "reorder": 0.1, "duplicates": 0.1},
        0.05,
    ),
}


@lru_cache(maxsize=2)
def _feed(path: Path) -> JSON:
    data: JSON = orjson.loads(path.read_bytes())
    return data


def _withdrawing(snapshots: list[JSON], rate: float, seed: int) -> list[JSON]:
    """``snapshots`` where, after some snapshot (never the last), the same snapshot comes
    again without its last 1-3 plays."""
    rng = random.Random(seed)
    out: list[JSON] = []
    for snapshot in snapshots[:-1]:
        out.append(snapshot)
        plays = snapshot["liveData"]["plays"]["allPlays"]
        if len(plays) > 1 and rng.random() < rate:
            kept = plays[: -rng.randint(1, min(3, len(plays) - 1))]
            live = {**snapshot["liveData"]}
            live["plays"] = {**live["plays"], "allPlays": kept}
            out.append({**snapshot, "liveData": live})
    return [*out, snapshots[-1]]


def _batches(feed: JSON, replay: Replay) -> list[list[Event]]:
    """The events the snapshot diff emits for each snapshot of ``replay``."""
    every, perturb, rate = replay
    snapshots = _withdrawing(simulate(feed, every, **perturb), rate, seed=every)
    state: GameState | None = None
    out: list[list[Event]] = []
    for snapshot in snapshots:
        state, events = step(state, snapshot)
        out.append(events)
    return out


def _scribble(value: Any) -> None:
    """Change every dict and list of a returned box score in place (a caller may)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, int):
                value[key] = item + 1000
            else:
                _scribble(item)
        value["scribbled"] = True
    elif isinstance(value, list):
        for item in value:
            _scribble(item)
        value.append({})


def _assert_incremental_is_exact(batches: list[list[Event]]) -> None:
    state = initialize()
    sent: list[Event] = []
    for events in batches:
        for event in events:
            agg(state, event)
        sent.extend(events)
        got = result(state)
        assert orjson.dumps(got) == orjson.dumps(box_score(sent))
        _scribble(got)
    assert result(state)["linescore"]["innings"]  # a whole game, not an empty box


def _kinds(batches: list[list[Event]]) -> Counter[str]:
    return Counter(
        "retraction" if isinstance(e, Retraction) else "revision" if e.revision else "new"
        for events in batches
        for e in events
    )


@pytest.mark.parametrize("replay", sorted(REPLAYS))
def test_fixture_game_every_snapshot_equals_a_fold_from_scratch(
    fixture_feed: JSON, replay: str
) -> None:
    batches = _batches(fixture_feed, REPLAYS[replay])
    if replay != "plain":
        assert _kinds(batches)["retraction"] > 0
        assert _kinds(batches)["revision"] > 0
    _assert_incremental_is_exact(batches)


@pytest.mark.corpus
@pytest.mark.parametrize("replay", ["plain", "faulty"])  # every pitch: the fixture game
@pytest.mark.parametrize("path", corpus_feed_paths(), ids=lambda p: p.stem)
def test_corpus_game_every_snapshot_equals_a_fold_from_scratch(path: Path, replay: str) -> None:
    batches = _batches(_feed(path), REPLAYS[replay])
    if replay != "plain":
        assert _kinds(batches)["retraction"] > 0
        assert _kinds(batches)["revision"] > 0
    _assert_incremental_is_exact(batches)


def test_result_refolds_only_the_plate_appearances_that_changed(
    fixture_feed: JSON, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a plain replay every emitted event is new or changed: each ``result`` refolds
    exactly the groups (``atBatIndex``, or none for the status) of its batch's events."""
    folded: list[int] = []
    fold = boxscore._fold

    def counting(events: list[Any]) -> boxscore._Sheet:
        folded.append(len(events))
        return fold(events)

    monkeypatch.setattr(boxscore, "_fold", counting)
    state = initialize()
    for events in _batches(fixture_feed, REPLAYS["plain"]):
        for event in events:
            agg(state, event)
        folded.clear()
        result(state)
        assert len(folded) == len({getattr(e, "atBatIndex", None) for e in events})


@lru_cache(maxsize=1)
def _stream() -> tuple[Event, ...]:
    """The fixture game's events as the diff emits them on a faulty replay, in order."""
    return tuple(e for events in _batches(load_fixture_feed(), REPLAYS["faulty"]) for e in events)


def _retraction(of: Event, source_ts: str, bump: int) -> Retraction:
    return Retraction(
        event_id=of.event_id,
        revision=of.revision + bump,
        source_ts=source_ts,
        gamePk=of.gamePk,
        retracted_kind=of.event_id.split(":", 1)[0],
    )


_INDEX = st.integers(min_value=0, max_value=10_000)  # taken modulo the stream's length
_OPERATION = st.one_of(
    st.tuples(st.just("send"), _INDEX),
    # of one event, at its own time (as the diff does) or at another's, maybe older
    st.tuples(st.just("retract"), _INDEX, st.none() | _INDEX, st.integers(0, 2)),
    # of every event of one event's plate appearance or inning (lines and innings go away)
    st.tuples(st.just("retract_all"), _INDEX, st.sampled_from(["atBatIndex", "inning"])),
    st.tuples(st.just("result")),
    st.tuples(st.just("pickle")),
)


@settings(max_examples=150, deadline=None)
@given(
    prefix=st.integers(min_value=0, max_value=10_000),
    warm=st.booleans(),
    operations=st.lists(_OPERATION, max_size=60),
)
def test_any_interleaving_of_agg_and_result_equals_a_fold_from_scratch(
    prefix: int, warm: bool, operations: list[tuple[Any, ...]]
) -> None:
    """A prefix of the stream, then events sent again in any order (older versions
    included), retractions of any of them (newer or older than what is held) or of whole
    plate appearances and innings, ``result`` and pickle round trips anywhere."""
    stream = _stream()
    state = initialize()
    sent: list[Event] = []

    def send(event: Event) -> None:
        agg(state, event)
        sent.append(event)

    for event in stream[: prefix % (len(stream) + 1)]:
        send(event)
    if warm:
        result(state)
    for operation in operations:
        match operation:
            case ("send", i):
                send(stream[i % len(stream)])
            case ("retract", i, j, bump):
                of = stream[i % len(stream)]
                at = of if j is None else stream[j % len(stream)]
                send(_retraction(of, at.source_ts, bump))
            case ("retract_all", i, key):
                like = getattr(stream[i % len(stream)], key, None)
                for of in stream:
                    if like is not None and getattr(of, key, None) == like:
                        send(_retraction(of, of.source_ts, 1))
            case ("result",):
                assert orjson.dumps(result(state)) == orjson.dumps(box_score(sent))
            case ("pickle",):
                state = pickle.loads(pickle.dumps(state, PROTOCOL))
    assert orjson.dumps(result(state)) == orjson.dumps(box_score(sent))


def _first_half(batches: list[list[Event]]) -> tuple[BoxScoreState, list[Event]]:
    """The state after the first half of ``batches``, ``result`` after each; what was sent."""
    state = initialize()
    sent: list[Event] = []
    for events in batches[: len(batches) // 2]:
        for event in events:
            agg(state, event)
        sent.extend(events)
        result(state)
    assert state.derived is not None
    return state, sent


def test_pickle_mid_game_leaves_the_cache_out_and_resumes_exactly(fixture_feed: JSON) -> None:
    batches = _batches(fixture_feed, REPLAYS["faulty"])
    state, sent = _first_half(batches)
    blob = pickle.dumps(state, PROTOCOL)
    assert blob == pickle.dumps(BoxScoreState(state.game_pk, state.latest), PROTOCOL)
    resumed = pickle.loads(blob)
    assert resumed.derived is None
    assert resumed.latest == state.latest
    for events in batches[len(batches) // 2 :]:
        for event in events:
            agg(state, event)
            agg(resumed, event)
        sent.extend(events)
        expected = orjson.dumps(box_score(sent))
        assert orjson.dumps(result(resumed)) == expected
        assert orjson.dumps(result(state)) == expected


#: ``BoxScoreState`` as it was before ``result`` had a cache, under the same name
_OLD_LAYOUT = msgspec.defstruct(
    "BoxScoreState",
    [("game_pk", int | None, None), ("latest", dict[str, Event], {})],
    module=boxscore.__name__,
)


def _pickled_by_the_old_layout(state: BoxScoreState, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """What the previous code wrote to the recovery store for the same ``latest``."""
    with monkeypatch.context() as patch:
        patch.setattr(boxscore, "BoxScoreState", _OLD_LAYOUT)
        return pickle.dumps(_OLD_LAYOUT(state.game_pk, state.latest), PROTOCOL)


def test_state_pickled_before_the_cache_existed_loads_and_continues(
    fixture_feed: JSON, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = _batches(fixture_feed, REPLAYS["faulty"])
    state, sent = _first_half(batches)
    old_blob = _pickled_by_the_old_layout(state, monkeypatch)
    # the same bytes as the new code writes: the previous code reads those too
    assert old_blob == pickle.dumps(state, PROTOCOL)
    resumed = pickle.loads(old_blob)
    assert type(resumed) is BoxScoreState
    assert resumed.derived is None
    assert orjson.dumps(result(resumed)) == orjson.dumps(box_score(sent))
    for events in batches[len(batches) // 2 :]:
        for event in events:
            agg(resumed, event)
        sent.extend(events)
        assert orjson.dumps(result(resumed)) == orjson.dumps(box_score(sent))
