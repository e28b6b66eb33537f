"""The oracle: differences between a derived box score and MLB's official one.

Expected values are read from MLB's own ``liveData.boxscore`` and ``liveData.linescore``
of the same feed, never from the code under test.
"""

from __future__ import annotations

from typing import Any

from flows.game.boxscore import BATTING_FIELDS, PITCHING_FIELDS

JSON = dict[str, Any]
SIDES = ("home", "away")
LINE_FIELDS = ("runs", "hits", "errors")


def official_lines(feed: JSON, side: str, category: str) -> dict[str, JSON]:
    """``{personId: stats}`` for every player MLB gives a non-empty ``category`` line."""
    players = feed["liveData"]["boxscore"]["teams"][side]["players"]
    return {
        key.removeprefix("ID"): player["stats"][category]
        for key, player in players.items()
        if player["stats"].get(category)
    }


def differences(feed: JSON, derived: JSON) -> tuple[int, list[tuple[Any, ...]]]:
    """(number of official fields compared, every mismatch)."""
    compared = 0
    bad: list[tuple[Any, ...]] = []
    if derived["gamePk"] != feed["gamePk"]:
        bad.append(("gamePk", feed["gamePk"], derived["gamePk"]))
    for side in SIDES:
        for category, fields in (("batting", BATTING_FIELDS), ("pitching", PITCHING_FIELDS)):
            official = official_lines(feed, side, category)
            mine = derived["teams"][side][category]
            if set(official) != set(mine):
                bad.append((side, category, "players", sorted(official), sorted(mine)))
            for person, stats in official.items():
                for field in fields:
                    compared += 1
                    got = mine.get(person, {}).get(field)
                    if stats[field] != got:
                        bad.append((side, category, person, field, stats[field], got))
    official_innings = {i["num"]: i for i in feed["liveData"]["linescore"]["innings"]}
    derived_innings = {i["num"]: i for i in derived["linescore"]["innings"]}
    if set(official_innings) != set(derived_innings):
        bad.append(("innings", sorted(official_innings), sorted(derived_innings)))
    for num, inning in official_innings.items():
        for side in SIDES:
            for field in LINE_FIELDS:
                compared += 1
                got = derived_innings.get(num, {}).get(side, {}).get(field)
                if inning[side].get(field) != got:
                    bad.append(("linescore", num, side, field, inning[side].get(field), got))
    return compared, bad
