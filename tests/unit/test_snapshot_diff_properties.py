"""Properties of the snapshot diff over simulated polling (``sim.simulate``).

Whatever the cadence and the delivery faults (duplicates, reordering, gaps, scoring
corrections that MLB later reverts), the final event set is the one of the final feed
alone, and the box score equals MLB's official one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.game.boxscore import box_score
from flows.game.events import Event, Retraction, encode_event
from flows.game.snapshot_diff import GameState, step
from sim.simulate import simulate
from tests.conftest import load_fixture_feed, shared_data_dir
from tests.unit.official_boxscore import differences

pytestmark = pytest.mark.unit

JSON = dict[str, Any]
FEED = load_fixture_feed()
SMALL_CORPUS_GAME = shared_data_dir() / "mlb" / "feed_live" / "718594.json"


def _final_set(events: list[Event]) -> dict[str, bytes]:
    """Latest content per event id (newest source_ts, then revision), retractions removed."""
    latest: dict[str, Event] = {}
    for event in events:
        old = latest.get(event.event_id)
        if old is None or (event.source_ts, event.revision) >= (old.source_ts, old.revision):
            latest[event.event_id] = event
    out: dict[str, bytes] = {}
    for event_id, event in latest.items():
        if isinstance(event, Retraction):
            continue
        data = orjson.loads(encode_event(event))
        del data["revision"], data["source_ts"]
        out[event_id] = orjson.dumps(data)
    return out


def _events(snapshots: list[JSON]) -> list[Event]:
    state: GameState | None = None
    out: list[Event] = []
    for snapshot in snapshots:
        state, events = step(state, snapshot)
        out.extend(events)
    return out


REFERENCE = _final_set(_events([FEED]))

perturbations = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**16),
        "duplicates": st.sampled_from([0.0, 0.3]),
        "reorder": st.sampled_from([0.0, 0.3]),
        "gaps": st.sampled_from([0.0, 0.5]),
        "corrections": st.sampled_from([0.0, 0.5]),
    }
)


@settings(max_examples=12, deadline=None)
@given(every=st.integers(1, 60), perturb=perturbations)
def test_same_final_event_set_at_any_cadence(every: int, perturb: dict[str, Any]) -> None:
    events = _events(simulate(FEED, every, **perturb))
    assert _final_set(events) == REFERENCE
    assert differences(FEED, box_score(events))[1] == []


@settings(max_examples=10, deadline=None)
@given(every=st.integers(1, 40), data=st.data())
def test_same_snapshot_twice_emits_nothing_the_second_time(every: int, data: st.DataObject) -> None:
    snapshots = simulate(FEED, every)
    cut = data.draw(st.integers(0, len(snapshots) - 1))
    state: GameState | None = None
    for snapshot in snapshots[: cut + 1]:
        state, _ = step(state, snapshot)
    state, again = step(state, snapshots[cut])
    assert again == []
    assert state.duplicate_snapshots == 1


@pytest.mark.corpus
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(every=st.integers(1, 60), perturb=perturbations)
def test_corpus_game_same_final_event_set(every: int, perturb: dict[str, Any]) -> None:
    if not SMALL_CORPUS_GAME.is_file():
        pytest.skip("shared corpus not found")
    feed: JSON = orjson.loads(Path(SMALL_CORPUS_GAME).read_bytes())
    reference = _final_set(_events([feed]))
    events = _events(simulate(feed, every, **perturb))
    assert _final_set(events) == reference
    assert differences(feed, box_score(events))[1] == []
