"""``examples/live_box_score.py`` without a broker: its decoder reads the production encoding,
and its fold gives MLB's official line score whatever the order, repeats, revisions and
retractions of the records.

The records are the production encoding (``connectors.records.event_record``) of the
engine's events over real games polled with MLB-like corrections, gaps, duplicates and
reordering (``sim.simulate``). The oracle is each feed's own ``liveData.linescore`` and
``boxscore`` (pitches thrown per team).
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import orjson
import pytest

from connectors.records import event_record
from flows.game.events import Event, PlayEvent, Retraction
from mlbsts.paths import PROJECT_ROOT
from sim.simulate import simulate
from sim.sources import run_engine
from tests.conftest import corpus_feed_paths, load_fixture_feed

pytestmark = pytest.mark.unit

EXAMPLE = PROJECT_ROOT / "examples" / "live_box_score.py"
JSON = dict[str, Any]


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("live_box_score", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("live_box_score", module)
    spec.loader.exec_module(module)
    return module


example = load_example()
DECODER = example.EventDecoder(PROJECT_ROOT / "schemas")


def official(feed: JSON) -> JSON:
    """The line score the example should print, from MLB's own line score and box score."""
    line = feed["liveData"]["linescore"]
    teams = feed["liveData"]["boxscore"]["teams"]
    innings = [
        {
            "num": inning["num"],
            **{
                side: {k: v for k, v in inning[side].items() if k in ("runs", "hits", "errors")}
                for side in ("away", "home")
            },
        }
        for inning in line["innings"]
    ]
    totals = {
        side: {
            **{k: line["teams"][side][k] for k in ("runs", "hits", "errors")},
            "pitches": teams[side]["teamStats"]["pitching"]["numberOfPitches"],
        }
        for side in ("away", "home")
    }
    state = feed["gameData"]["status"]["detailedState"]  # "Game Over" while Final, at times
    return {"gamePk": feed["gamePk"], "state": state, "innings": innings, **totals}


def fold(game_pk: int, values: list[bytes]) -> JSON:
    score = example.LineScore(game_pk)
    for value in values:
        score.apply(*DECODER.decode(value))
    summary: JSON = score.summary()
    return summary


def stream(feed: JSON, seed: int) -> list[Event]:
    """The engine's events over a perturbed polling of ``feed``."""
    snapshots = simulate(feed, 3, seed=seed, corrections=0.3, duplicates=0.1, reorder=0.1, gaps=0.1)
    return list(run_engine(snapshots))


def test_the_fixture_game_folds_to_the_official_line_score() -> None:
    feed = load_fixture_feed()
    events = stream(feed, seed=1)
    assert any(e.revision > 0 for e in events)  # MLB-like corrections were re-issued
    values = [event_record(e).value for e in events]
    assert fold(feed["gamePk"], values) == official(feed)


def test_order_and_repeats_do_not_matter() -> None:
    """At-least-once delivery repeats records; partitions of different topics interleave in
    any order; a version older than the one kept is ignored."""
    feed = load_fixture_feed()
    values = [event_record(e).value for e in stream(feed, seed=2)]
    rng = random.Random(3)
    shuffled = values + rng.sample(values, len(values) // 3)
    rng.shuffle(shuffled)
    assert fold(feed["gamePk"], shuffled) == official(feed)


def test_a_retraction_removes_an_event_until_it_comes_back() -> None:
    feed = load_fixture_feed()
    events = stream(feed, seed=4)
    single = next(e for e in events if isinstance(e, PlayEvent) and e.eventType == "single")
    side = "away" if single.halfInning == "top" else "home"
    later = str(int(max(e.source_ts for e in events).replace("_", "")) + 1)
    later_ts = f"{later[:8]}_{later[8:]}"
    gone = Retraction(
        event_id=single.event_id,
        gamePk=single.gamePk,
        revision=single.revision + 1,
        source_ts=later_ts,
        retracted_kind="play",
    )
    back = msgspec.structs.replace(single, revision=single.revision + 2, source_ts=later_ts)
    values = [event_record(e).value for e in events]
    want = official(feed)
    retracted = fold(feed["gamePk"], [*values, event_record(gone).value])
    assert retracted[side]["hits"] == want[side]["hits"] - 1
    inning = retracted["innings"][single.inning - 1][side]
    assert inning["hits"] == want["innings"][single.inning - 1][side]["hits"] - 1
    restored = [*values, event_record(gone).value, event_record(back).value]
    assert fold(feed["gamePk"], restored) == want
    # the retraction arriving after the newer version changes nothing
    assert fold(feed["gamePk"], [*values, event_record(back).value, event_record(gone).value]) == (
        want
    )


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_feed_paths(), ids=lambda p: p.stem)
def test_every_recorded_game_folds_to_its_official_line_score(path: Path) -> None:
    feed: JSON = orjson.loads(path.read_bytes())
    values = [event_record(e).value for e in stream(feed, seed=5)]
    assert fold(feed["gamePk"], values) == official(feed)
