"""The scoreboard tables of real games read like MLB's own line score.

Expected values come from MLB's ``liveData.linescore`` of the same feed, never from the code
under test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.table import Table

from flows.game.boxscore import box_score
from flows.game.snapshot_diff import step
from flows.game.stat_fields import BATTING_FIELDS, PITCHING_FIELDS
from mlbsts.scoreboard import (
    BATTING_LABELS,
    PITCHING_LABELS,
    box_score_tables,
    line_score_table,
)

pytestmark = pytest.mark.unit

JSON = dict[str, Any]
# BOS @ TB, 2023: the Rays lead 9-3 after the top of the 9th and do not bat in the bottom.
HOME_WIN_WITHOUT_BOTTOM_9TH = 718594
# CLE @ COL, 2023, live in the bottom of the 7th; nobody has scored in that half yet.
LIVE_SNAPSHOT = ("746139", "2.json")


def _load(path: Path) -> JSON:
    data: JSON = orjson.loads(path.read_bytes())
    return data


def _box(feed: JSON) -> JSON:
    _, events = step(None, feed)
    return box_score(events)


def _rows(table: Table) -> list[list[str]]:
    columns = [[str(cell) for cell in column.cells] for column in table.columns]
    return [list(row) for row in zip(*columns, strict=True)]


def _official_cells(feed: JSON, side: str) -> list[str]:
    return [str(i[side].get("runs", "")) for i in feed["liveData"]["linescore"]["innings"]]


def _official_totals(feed: JSON, side: str) -> list[str]:
    team = feed["liveData"]["linescore"]["teams"][side]
    return [str(team[k]) for k in ("runs", "hits", "errors")]


@pytest.mark.corpus
def test_home_win_without_bottom_of_the_9th_prints_x(data_dir: Path) -> None:
    feed = _load(data_dir / "mlb" / "feed_live" / f"{HOME_WIN_WITHOUT_BOTTOM_9TH}.json")
    assert "runs" not in feed["liveData"]["linescore"]["innings"][8]["home"]
    away, home = _rows(line_score_table(_box(feed), {"away": "BOS", "home": "TB"}))
    assert away == ["BOS", *_official_cells(feed, "away"), *_official_totals(feed, "away")]
    assert home == ["TB", *_official_cells(feed, "home")[:8], "x", *_official_totals(feed, "home")]


def test_a_game_the_home_team_loses_has_no_x(fixture_feed: JSON) -> None:
    away, home = _rows(line_score_table(_box(fixture_feed), {}))
    assert away == [
        "away",
        *_official_cells(fixture_feed, "away"),
        *_official_totals(fixture_feed, "away"),
    ]
    assert home == [
        "home",
        *_official_cells(fixture_feed, "home"),
        *_official_totals(fixture_feed, "home"),
    ]
    assert "x" not in home


@pytest.mark.corpus
def test_a_live_game_leaves_unfinished_half_innings_blank(data_dir: Path) -> None:
    game, name = LIVE_SNAPSHOT
    feed = _load(data_dir / "mlb" / "snapshots" / game / name)
    assert feed["liveData"]["linescore"]["inningHalf"] == "Bottom"
    away, home = _rows(line_score_table(_box(feed), {}, final=False))
    assert away[1:-3] == _official_cells(feed, "away")
    assert home[1:-3] == _official_cells(feed, "home")
    assert home[-4] == ""


def test_every_stat_field_has_a_label_and_keeps_its_order(fixture_feed: JSON) -> None:
    assert set(BATTING_LABELS) == set(BATTING_FIELDS)
    assert set(PITCHING_LABELS) == set(PITCHING_FIELDS)
    batting, pitching, *_ = box_score_tables(_box(fixture_feed), {}, {})
    assert [c.header for c in batting.columns] == ["batter"] + [
        BATTING_LABELS[f] for f in BATTING_FIELDS
    ]
    assert [c.header for c in pitching.columns] == ["pitcher"] + [
        PITCHING_LABELS[f] for f in PITCHING_FIELDS
    ]
    assert [c.header for c in batting.columns][1:4] == ["AB", "R", "H"]
    assert [c.header for c in pitching.columns][1:4] == ["IP", "H", "R"]
