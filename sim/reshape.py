"""SYNTHETIC, pure: a recorded final feed moved to another date, game or story.

These transforms make the games of a synthetic season (:mod:`sim.season`) out of the real
final feeds of the shared corpus. What they change, and nothing else:

- :func:`rekey_and_shift`: the game's identity (top-level ``gamePk``, ``link``,
  ``gameData.game.pk``) and every UTC instant of the feed (each ISO string
  ``YYYY-MM-DDTHH:MM:SS[.fff]Z``: pitch, play and game times) moved by one offset, the
  ``metaData.timeStamp`` timecode too; ``gameData.datetime.officialDate`` and
  ``originalDate`` become the listed date. Dates without a time (birth dates, debuts) are
  left alone, and so are the display fields ``time``, ``ampm`` and ``dayNight``.
- :func:`resume_later`: the plays from ``atBatIndex`` ``cut`` on (and the final
  ``metaData.timeStamp``) moved later by one offset, as when a game suspended after play
  ``cut - 1`` is resumed on another day.
- :func:`with_status`: a snapshot with another ``gameData.status`` and timeStamp (a delay,
  a suspension); the status objects below follow MLB's codes (``detailedState`` /
  ``codedGameState`` / ``statusCode``), written here: no recording of them exists in the
  corpus.
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime, timedelta
from typing import Any

from flows.game.envelope import FEED_TIMESTAMP_FORMAT, feed_timestamp_of, parse_feed_timestamp

__all__ = [
    "DELAYED_START",
    "SUSPENDED",
    "first_play_of_inning",
    "rekey_and_shift",
    "resume_later",
    "shift_instants",
    "with_status",
]

JSON = dict[str, Any]
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")
_ISO_HEAD = "%Y-%m-%dT%H:%M:%S"

DELAYED_START: JSON = {
    "abstractGameState": "Preview",
    "codedGameState": "P",
    "detailedState": "Delayed Start: Rain",
    "statusCode": "PR",
    "startTimeTBD": False,
    "reason": "Rain",
    "abstractGameCode": "P",
}
SUSPENDED: JSON = {
    "abstractGameState": "Live",
    "codedGameState": "T",
    "detailedState": "Suspended: Rain",
    "statusCode": "TR",
    "startTimeTBD": False,
    "reason": "Rain",
    "abstractGameCode": "L",
}


def _shift_iso(value: str, offset: timedelta) -> str:
    moved = datetime.strptime(value[:19], _ISO_HEAD) + offset
    return moved.strftime(_ISO_HEAD) + value[19:]


def shift_instants(node: Any, offset: timedelta) -> Any:
    """``node`` with every ISO UTC instant string moved by ``offset`` (a new tree)."""
    if isinstance(node, dict):
        return {k: shift_instants(v, offset) for k, v in node.items()}
    if isinstance(node, list):
        return [shift_instants(v, offset) for v in node]
    if isinstance(node, str) and _ISO.fullmatch(node):
        return _shift_iso(node, offset)
    return node


def _shift_timecode(feed: JSON, offset: timedelta) -> None:
    stamp = feed_timestamp_of(feed)
    if stamp:
        moved = parse_feed_timestamp(stamp) + offset
        feed["metaData"]["timeStamp"] = moved.strftime(FEED_TIMESTAMP_FORMAT)


def scheduled_start(feed: JSON) -> datetime:
    """The feed's scheduled first pitch (``gameData.datetime.dateTime``), UTC."""
    text = str(feed["gameData"]["datetime"]["dateTime"])
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rekey_and_shift(feed: JSON, game_pk: int, start: datetime, listed: date) -> JSON:
    """``feed`` as game ``game_pk`` scheduled at ``start`` (UTC) and listed on ``listed``:
    every instant moved by ``start`` minus its scheduled first pitch (see module doc)."""
    offset = start - scheduled_start(feed)
    moved: JSON = shift_instants(feed, offset)
    _shift_timecode(moved, offset)
    moved["gamePk"] = game_pk
    moved["link"] = f"/api/v1.1/game/{game_pk}/feed/live"
    moved["gameData"]["game"]["pk"] = game_pk
    when = moved["gameData"]["datetime"]
    when["officialDate"] = when["originalDate"] = listed.isoformat()
    return moved


def first_play_of_inning(feed: JSON, inning: int) -> int:
    """The ``atBatIndex`` of the first play of ``inning`` (top half). Raises ``ValueError``."""
    for play in feed["liveData"]["plays"]["allPlays"]:
        about = play.get("about", {})
        if about.get("inning") == inning and about.get("isTopInning"):
            return int(about["atBatIndex"])
    raise ValueError(f"no top of inning {inning} in game {feed.get('gamePk')}")


def resume_later(feed: JSON, cut: int, offset: timedelta) -> JSON:
    """``feed`` with the plays from ``atBatIndex`` ``cut`` on moved ``offset`` later, and its
    final timeStamp with them (a game suspended before play ``cut``, resumed later)."""
    moved = copy.copy(feed)
    moved["metaData"] = dict(feed["metaData"])
    live = moved["liveData"] = dict(feed["liveData"])
    plays = live["plays"] = dict(feed["liveData"]["plays"])
    plays["allPlays"] = [
        shift_instants(p, offset) if int(p["about"]["atBatIndex"]) >= cut else p
        for p in feed["liveData"]["plays"]["allPlays"]
    ]
    if plays.get("currentPlay"):
        plays["currentPlay"] = plays["allPlays"][-1]
    _shift_timecode(moved, offset)
    return moved


def with_status(snapshot: JSON, status: JSON, at: datetime) -> JSON:
    """``snapshot`` served at ``at`` with ``status`` as its ``gameData.status``."""
    out = copy.copy(snapshot)
    out["gameData"] = dict(snapshot["gameData"])
    out["gameData"]["status"] = dict(status)
    out["metaData"] = dict(snapshot["metaData"])
    out["metaData"]["timeStamp"] = at.strftime(FEED_TIMESTAMP_FORMAT)
    return out
