"""The box score derived from the event stream equals MLB's official one, field for field.

For every final feed in the corpus (and the game kept in the repository), fed as one
snapshot and as the snapshots a poller would have seen every 1, 3, 10 and 50 pitches
(``sim.simulate``), with and without delivery faults and scoring corrections. Expected
values are MLB's own ``liveData.boxscore`` and ``liveData.linescore``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import pytest

from flows.game.boxscore import box_score
from flows.game.events import Event
from flows.game.snapshot_diff import GameState, step
from sim.simulate import simulate
from tests.conftest import corpus_feed_paths
from tests.unit.official_boxscore import differences

pytestmark = pytest.mark.unit

JSON = dict[str, Any]
CADENCES = [None, 1, 3, 10, 50]
PERTURBED = {"seed": 7, "duplicates": 0.2, "reorder": 0.2, "gaps": 0.2, "corrections": 0.3}


@lru_cache(maxsize=2)
def _feed(path: Path) -> JSON:
    data: JSON = orjson.loads(path.read_bytes())
    return data


def _events(feed: JSON, every: int | None, **perturb: Any) -> list[Event]:
    snapshots: list[JSON] = [feed] if every is None else simulate(feed, every, **perturb)
    state: GameState | None = None
    out: list[Event] = []
    for snapshot in snapshots:
        state, events = step(state, snapshot)
        out.extend(events)
    return out


def _assert_official(feed: JSON, events: list[Event]) -> None:
    compared, bad = differences(feed, box_score(events))
    assert compared > 300
    assert bad == []


@pytest.mark.parametrize("every", CADENCES)
def test_fixture_game_matches_official(fixture_feed: JSON, every: int | None) -> None:
    _assert_official(fixture_feed, _events(fixture_feed, every))


def test_fixture_game_perturbed_matches_official(fixture_feed: JSON) -> None:
    _assert_official(fixture_feed, _events(fixture_feed, 3, **PERTURBED))


@pytest.mark.corpus
@pytest.mark.parametrize("every", CADENCES)
@pytest.mark.parametrize("path", corpus_feed_paths(), ids=lambda p: p.stem)
def test_corpus_game_matches_official(path: Path, every: int | None) -> None:
    feed = _feed(path)
    _assert_official(feed, _events(feed, every))


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_feed_paths(), ids=lambda p: p.stem)
def test_corpus_game_perturbed_matches_official(path: Path) -> None:
    feed = _feed(path)
    _assert_official(feed, _events(feed, 3, **PERTURBED))


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("game", "number"),
    [("746139", 1), ("746139", 2), ("746551", 1), ("633860", 1)],
)
def test_live_capture_matches_its_own_boxscore(data_dir: Path, game: str, number: int) -> None:
    """Mid-game, MLB's box score of the same capture is the oracle (pitch counts of the
    plate appearance in progress included)."""
    feed: JSON = orjson.loads(
        (data_dir / "mlb" / "snapshots" / game / f"{number}.json").read_bytes()
    )
    assert feed["gameData"]["status"]["abstractGameState"] == "Live"
    _assert_official(feed, _events(feed, None))


def test_correction_then_revert_is_honoured(fixture_feed: JSON) -> None:
    """A hit re-scored as an error and back: the fold keeps only the latest revision."""
    events = _events(fixture_feed, 10, seed=3, corrections=1.0)
    assert any(e.revision > 0 for e in events if e.event_id.startswith("play:"))
    _assert_official(fixture_feed, events)
