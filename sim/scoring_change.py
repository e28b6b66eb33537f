"""SYNTHETIC: a scoring change made from a real final feed (pure).

MLB's official scorer sometimes changes a play hours after the game, e.g. a single into a
reached-on-error; the feed is then served again with a later ``metaData.timeStamp``.
No recording of such a change exists, so :func:`scoring_change` makes one from a recorded
final feed, consistently: the play (``result`` and its batter's runner movement: event
and the fielder's credit ``f_fielded_ball`` -> ``f_fielding_error``), and MLB's own
official box score and line score of the feed (batter and pitcher one hit fewer, one total
base fewer for the batter; fielder and fielding team one error more; the inning's and the
game's hits and errors). Rate strings (``avg``, ``obp``...) are left as recorded.

The play chosen is the game's first single after which its half-inning scored no run and
that drove none in, so no RBI or earned run changes with it.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from flows.game.envelope import FEED_TIMESTAMP_FORMAT, parse_feed_timestamp

JSON = dict[str, Any]
FIELDED = "f_fielded_ball"
ERROR = "f_fielding_error"


def scoring_change(final: JSON, later: timedelta) -> tuple[JSON, int]:
    """``final`` as MLB would serve it after the scorer turned its first eligible single
    (see the module docstring) into a fielding error, ``later`` after its timeStamp.
    Returns the changed feed and the play's ``atBatIndex``; ``final`` is not mutated.
    Raises ``ValueError`` when the game has no eligible single."""
    changed = copy.deepcopy(final)
    plays = changed["liveData"]["plays"]["allPlays"]
    play, runner = _eligible(plays)
    batter = play["matchup"]["batter"]
    fielder = _rescore(play, runner, batter.get("fullName", "The batter"))
    top = bool(play["about"]["isTopInning"])
    bat, field = ("away", "home") if top else ("home", "away")
    box = changed["liveData"]["boxscore"]["teams"]
    _add(box[bat]["players"][f"ID{batter['id']}"]["stats"]["batting"], hits=-1, totalBases=-1)
    _add(box[bat]["teamStats"]["batting"], hits=-1, totalBases=-1)
    pitcher = play["matchup"]["pitcher"]["id"]
    _add(box[field]["players"][f"ID{pitcher}"]["stats"]["pitching"], hits=-1)
    _add(box[field]["teamStats"]["pitching"], hits=-1)
    _add(box[field]["players"][f"ID{fielder}"]["stats"]["fielding"], errors=1)
    _add(box[field]["teamStats"]["fielding"], errors=1)
    line = changed["liveData"]["linescore"]
    inning = next(i for i in line["innings"] if i["num"] == play["about"]["inning"])
    for scope in (inning, line["teams"]):
        _add(scope[bat], hits=-1)
        _add(scope[field], errors=1)
    meta = changed["metaData"]
    stamp = parse_feed_timestamp(str(meta["timeStamp"])) + later
    meta["timeStamp"] = stamp.strftime(FEED_TIMESTAMP_FORMAT)
    return changed, int(play["about"]["atBatIndex"])


def _eligible(plays: list[JSON]) -> tuple[JSON, JSON]:
    """The play to re-score and its batter's runner movement."""
    for i, play in enumerate(plays):
        if play.get("result", {}).get("eventType") != "single" or play["result"].get("rbi"):
            continue
        half = (play["about"]["inning"], play["about"]["isTopInning"])
        rest = [p for p in plays[i:] if (p["about"]["inning"], p["about"]["isTopInning"]) == half]
        scored = any(r["movement"].get("end") == "score" for p in rest for r in p["runners"])
        runner = _batter_movement(play)
        if not scored and runner is not None:
            return play, runner
    raise ValueError("no single without runs after it in its half-inning")


def _batter_movement(play: JSON) -> JSON | None:
    """The batter's movement from home, when a fielder is credited with fielding the ball."""
    batter = play["matchup"]["batter"]["id"]
    runners: list[JSON] = play.get("runners", [])
    for runner in runners:
        from_home = runner["movement"].get("start") is None
        fielded = any(c.get("credit") == FIELDED for c in runner.get("credits", []))
        if runner["details"]["runner"]["id"] == batter and from_home and fielded:
            return runner
    return None


def _rescore(play: JSON, runner: JSON, batter_name: str) -> int:
    """Re-score ``play`` and ``runner`` in place; returns the id of the fielder charged."""
    play["result"].update(
        event="Field Error",
        eventType="field_error",
        description=f"{batter_name} reaches on a fielding error (scoring change).",
    )
    runner["details"].update(event="Field Error", eventType="field_error")
    credit = next(c for c in runner["credits"] if c.get("credit") == FIELDED)
    credit["credit"] = ERROR
    return int(credit["player"]["id"])


def _add(stats: JSON, **deltas: int) -> None:
    for key, delta in deltas.items():
        if key in stats:
            stats[key] = int(stats[key]) + delta
