"""Names shared by everything that counts or shows box-score statistics, pure and leaf.

The field names are MLB's own (``liveData.boxscore.teams.{home,away}.players.ID{n}.stats``,
contract: docs/architecture.md section 2), in the order MLB's box score shows them; the
event codes are MLB's ``result.eventType`` values.
"""

from __future__ import annotations

__all__ = ["BATTING_FIELDS", "PITCHING_FIELDS", "WALKS"]

BATTING_FIELDS: tuple[str, ...] = (
    "atBats",
    "runs",
    "hits",
    "doubles",
    "triples",
    "homeRuns",
    "rbi",
    "baseOnBalls",
    "strikeOuts",
    "hitByPitch",
    "stolenBases",
)
PITCHING_FIELDS: tuple[str, ...] = (
    "outs",
    "hits",
    "runs",
    "earnedRuns",
    "baseOnBalls",
    "strikeOuts",
    "homeRuns",
    "numberOfPitches",
    "strikes",
    "battersFaced",
)

# A base on balls, intentional or not: ``baseOnBalls`` for batter and pitcher, no at-bat.
WALKS: frozenset[str] = frozenset({"walk", "intent_walk"})
