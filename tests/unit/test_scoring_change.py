"""``sim.scoring_change``: a synthetic scoring change made from a real final feed is
consistent (the box score derived from its plays equals its own official box score, which
is the recorded one with the hit moved to an error) and the replay corpus serves it last.

Expected values come from the recorded feeds (the repository's game 744914, and every
corpus feed), never from the code under test."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from flows.game.boxscore import box_score
from sim.corpus import Corpus
from sim.scoring_change import scoring_change
from sim.sources import run_engine
from tests.conftest import corpus_feed_paths, load_fixture_feed
from tests.unit.official_boxscore import differences

pytestmark = [pytest.mark.unit, pytest.mark.corpus]
JSON = dict[str, Any]


def _line(feed: JSON, side: str, person: int, category: str) -> JSON:
    stats: JSON = feed["liveData"]["boxscore"]["teams"][side]["players"][f"ID{person}"]["stats"]
    return dict(stats[category])


@pytest.mark.parametrize(
    "path", [None, *corpus_feed_paths()], ids=lambda p: "744914-fixture" if p is None else p.stem
)
def test_changed_feed_is_consistent_with_its_own_official_box_score(path: Path | None) -> None:
    final = load_fixture_feed() if path is None else orjson.loads(path.read_bytes())
    changed, at_bat = scoring_change(final, timedelta(hours=14))
    compared, bad = differences(changed, box_score(list(run_engine([final, changed]))))
    assert compared > 300 and bad == []
    play = changed["liveData"]["plays"]["allPlays"][at_bat]
    original = final["liveData"]["plays"]["allPlays"][at_bat]
    assert original["result"]["eventType"] == "single"
    assert play["result"]["eventType"] == "field_error"
    side = "away" if play["about"]["isTopInning"] else "home"
    batter = play["matchup"]["batter"]["id"]
    before, after = (_line(f, side, batter, "batting") for f in (final, changed))
    assert after["hits"] == before["hits"] - 1 and after["atBats"] == before["atBats"]
    other = "home" if side == "away" else "away"
    errors = [f["liveData"]["linescore"]["teams"][other]["errors"] for f in (final, changed)]
    assert errors[1] == errors[0] + 1
    assert changed["metaData"]["timeStamp"] > final["metaData"]["timeStamp"]
    assert final["liveData"]["plays"]["allPlays"][at_bat]["result"]["eventType"] == "single"


def test_corpus_serves_the_change_after_the_final_feed(data_dir: Path) -> None:
    plain = Corpus(data_dir, every=50).timeline(748534)
    corrected = Corpus(data_dir, every=50, scoring_changes={748534: timedelta(hours=10)})
    timeline = corrected.timeline(748534)
    assert plain is not None and timeline is not None
    assert timeline.timecodes[:-1] == plain.timecodes
    assert timeline.sources[-2:] == ["recorded", "synthetic-scoring-change"]
    assert timeline.times[-1] - timeline.times[-2] == timedelta(hours=10)
    served = orjson.loads(timeline.body(len(timeline.timecodes) - 1))
    assert "field_error" in {
        p["result"].get("eventType") for p in served["liveData"]["plays"]["allPlays"]
    }
