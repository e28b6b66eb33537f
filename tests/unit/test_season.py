"""The SYNTHETIC season of the soak (``sim.reshape``, ``sim.season``) and the poller's clock
started at a replay's instant (``ingest.options.ScaledClock``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from flows.game.status import StatusKind, kind_of
from ingest.options import ScaledClock
from sim.corpus import Corpus
from sim.reshape import first_play_of_inning, rekey_and_shift, resume_later
from sim.season import SyntheticSeason, plan_season
from tests.conftest import load_fixture_feed

pytestmark = pytest.mark.unit
DAY = date(2031, 6, 3)


def test_scaled_clock_starts_at_the_given_instant() -> None:
    start = datetime(2031, 6, 3, 15, 0, tzinfo=UTC)
    now = ScaledClock(600.0, start).now()
    assert start <= now < start + timedelta(minutes=5)


def test_rekey_and_shift_moves_every_instant_and_keeps_the_plays() -> None:
    feed = load_fixture_feed()
    start = datetime(2031, 6, 3, 23, 5, tzinfo=UTC)
    moved = rekey_and_shift(feed, 9_000_105, start, DAY)
    assert moved["gamePk"] == moved["gameData"]["game"]["pk"] == 9_000_105
    assert moved["gameData"]["datetime"]["dateTime"] == "2031-06-03T23:05:00Z"
    assert moved["gameData"]["datetime"]["officialDate"] == "2031-06-03"
    offset = start - datetime.fromisoformat(
        feed["gameData"]["datetime"]["dateTime"][:19] + "+00:00"
    )
    old = feed["liveData"]["plays"]["allPlays"][0]["about"]["startTime"]
    new = moved["liveData"]["plays"]["allPlays"][0]["about"]["startTime"]
    assert datetime.fromisoformat(new[:19]) - datetime.fromisoformat(old[:19]) == offset
    assert moved["metaData"]["timeStamp"] > "20310603_230500"
    plays = moved["liveData"]["plays"]["allPlays"]
    assert [p["result"] for p in plays] == [
        p["result"] for p in feed["liveData"]["plays"]["allPlays"]
    ]
    assert feed["gamePk"] != 9_000_105  # not mutated


def test_resume_later_moves_only_the_plays_after_the_cut() -> None:
    feed = load_fixture_feed()
    cut = first_play_of_inning(feed, 6)
    later = resume_later(feed, cut, timedelta(hours=20))
    plays, before = later["liveData"]["plays"]["allPlays"], feed["liveData"]["plays"]["allPlays"]
    assert plays[cut - 1] is before[cut - 1]
    assert plays[cut]["about"]["startTime"] != before[cut]["about"]["startTime"]
    assert later["metaData"]["timeStamp"] > feed["metaData"]["timeStamp"]


@pytest.mark.corpus
def test_the_season_has_every_story_and_thirty_games(data_dir: Path) -> None:
    season = SyntheticSeason(data_dir, plan_season(DAY, Corpus(data_dir).game_pks))
    assert len(season.game_pks) >= 30 and len(season.days) == 3
    stories = " ".join(g.story for g in season.games.values())
    for story in ("postponed", "doubleheader g2", "delayed", "suspended", "scoring change"):
        assert story in stories
    first = orjson.loads(season.schedule(DAY).body)["dates"][0]["games"]  # type: ignore[union-attr]
    assert any(kind_of(g["status"]) is StatusKind.POSTPONED for g in first)
    suspended = next(g for g in season.games.values() if g.resume_at is not None)
    timeline = season.timeline(suspended.game_pk)
    assert timeline is not None and "synthetic-suspension" in timeline.sources
    assert suspended.game_pk in season.feeds_on(suspended.resume_at.date())  # listed again
