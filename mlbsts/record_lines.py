"""One line per record for ``mlbsts tail``, pure: readable text or JSON.

The readable line of a pitch says what the event carries, ids rather than names (the
events hold no names)::

    744914 T3 1-2 2out  FF 95.1 mph  Called Strike  (543037 → 592450)

game, half inning (``T``op or ``B``ottom) and inning, the count and outs the pitch was
thrown in (as Statcast gives them: before the pitch), pitch type and release speed, MLB's
description, (pitcher → batter). A line of an event
whose ``revision`` is above 0 ends with ``[rev N]``: MLB changed it since it was first
emitted. The JSON line is the record as read plus its decoded value::

    {"topic": ..., "partition": 0, "offset": 17, "timestamp": "2024-07-01T20:01:02.345Z",
     "key": "744914", "framing": "single-object", "kind": "pitch", "value": {...}}

with ``"error"`` instead of ``"value"`` when the value does not decode.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from connectors.kafka_follow import Received
    from connectors.topic_decode import Decoded

__all__ = ["json_line", "readable_line", "wanted"]

Value = dict[str, Any]


def wanted(decoded: Decoded, kinds: frozenset[str]) -> bool:
    """Whether ``--kind`` keeps the record: every kind when none is given, and a record
    that does not decode always (it is news)."""
    return not kinds or decoded.kind in kinds or decoded.error is not None


def _key(record: Received) -> str | None:
    return None if record.key is None else record.key.decode("utf-8", "replace")


def json_line(record: Received, decoded: Decoded) -> str:
    """The record and its decoded value as one JSON object."""
    stamp = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
    line: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "key": _key(record),
        "framing": decoded.framing,
        "kind": decoded.kind,
    }
    if decoded.error is not None:
        line["error"] = decoded.error
    else:
        line["value"] = decoded.value
    return orjson.dumps(line).decode()


def readable_line(record: Received, decoded: Decoded) -> str:
    """One short line saying what the record is (see the module docstring)."""
    value = decoded.value
    if decoded.error is not None:
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        return f"{where} key {_key(record)}: undecodable {decoded.framing} value: {decoded.error}"
    if not isinstance(value, dict):
        return f"{_key(record)} {decoded.kind}: {_short(value)}"
    if decoded.schema == "live_stats":
        return _LIVE[decoded.kind](value)
    line = _BY_KIND.get(decoded.kind, _other)(value)
    if decoded.schema is not None and decoded.schema.startswith("events_"):
        revision = value.get("revision") or 0
        return f"{line}  [rev {revision}]" if revision else line
    return line if decoded.kind != "schedule" else f"schedule {_key(record)}: {line}"


def _short(value: object, limit: int = 200) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _half(value: Value) -> str:
    half = value.get("halfInning")
    inning = value.get("inning")
    if half is None or inning is None:
        return "--"
    return f"{'T' if half == 'top' else 'B'}{inning}"


def _pitch(value: Value) -> str:
    count = value["countBefore"]
    situation = f"{count['balls']}-{count['strikes']} {count['outs']}out"
    if value["isPitch"]:
        speed = (value.get("pitchData") or {}).get("startSpeed")
        kind = value.get("pitchType") or "??"
        what = f"{kind} {speed:.1f} mph" if isinstance(speed, int | float) else kind
    else:
        what = str(value["type"])
    people = f"({value.get('pitcherId')} → {value.get('batterId')})"
    return (
        f"{value['gamePk']} {_half(value)} {situation}  {what}  "
        f"{value.get('description') or ''}  {people}"
    )


def _play(value: Value) -> str:
    return (
        f"{value['gamePk']} {_half(value)} {value['outs']}out  {value.get('event') or '?'}: "
        f"{value.get('description') or ''}  away {value['awayScore']} home {value['homeScore']}"
    )


def _runner(value: Value) -> str:
    start = value.get("startBase") or "home"
    if value["isOut"]:
        end = f"out at {value.get('outBase') or '?'}"
    else:
        end = value.get("endBase") or "stays"
    errors = "  error" if value.get("errorFielderIds") else ""
    return (
        f"{value['gamePk']} {_half(value)} runner {value['runnerId']} {start} → {end}  "
        f"({value.get('event') or value.get('movementReason') or ''}){errors}"
    )


def _game(value: Value) -> str:
    if value["action"] == "status":
        return (
            f"{value['gamePk']} status {value.get('abstractGameState')}: "
            f"{value.get('detailedState')}"
        )
    return f"{value['gamePk']} {_half(value)} {value['action']}: {value.get('description') or ''}"


def _retraction(value: Value) -> str:
    return f"{value['gamePk']} retracted {value['event_id']}"


def _live_game(value: Value) -> str:
    game = value["game"]
    away = f"{game['away_runs']}-{game['away_hits']}-{game['away_errors']}"
    home = f"{game['home_runs']}-{game['home_hits']}-{game['home_errors']}"
    return (
        f"{value['gamePk']} line score (R-H-E)  away {away}  home {home}  "
        f"{game.get('detailedState')} ({game['events']} events)"
    )


def _mph(speed: object) -> str:
    return f"{speed:.1f}" if isinstance(speed, int | float) else "--"


def _live_pitcher(value: Value) -> str:
    p = value["pitcher"]
    fatigue = "  FATIGUE" if p["fatigue"] else ""
    return (
        f"{value['gamePk']} pitcher {p['pitcherId']}  {p['pitches']} pitches  last {p['last_n']}: "
        f"{_mph(p.get('velo_mean'))} mph avg, {_mph(p.get('velo_max'))} max{fatigue}"
    )


def _window(value: Value) -> str:
    return (
        f"window {value['window_start']} .. {value['window_end']}  {value['games']} games  "
        f"{value['pitches']} pitches  {value['balls_in_play']} in play  "
        f"exit velocity {_mph(value.get('exit_velocity_avg'))}  {value['home_runs']} HR"
    )


def _dead_letter(value: Value) -> str:
    game = value.get("gamePk") or value.get("original_key")
    return f"{game} dead letter {value['error_class']}: {value['reason']}"


def _snapshot(value: Value) -> str:
    return (
        f"{value['gamePk']} snapshot {value.get('feed_timestamp')}  HTTP {value['status_code']}  "
        f"{value['payload_bytes']} bytes {value['payload_encoding']}"
    )


def _schedule(value: Value) -> str:
    dates = [d.get("date") for d in value.get("dates") or [] if isinstance(d, dict)]
    return f"{value.get('totalGames', '?')} games on {', '.join(map(str, dates)) or 'no date'}"


def _other(value: Value) -> str:
    return _short(value)


_BY_KIND: dict[str, Callable[[Value], str]] = {
    "pitch": _pitch,
    "play": _play,
    "runner": _runner,
    "game": _game,
    "retraction": _retraction,
    "window": _window,
    "dead_letter": _dead_letter,
    "snapshot": _snapshot,
    "schedule": _schedule,
}
_LIVE: dict[str, Callable[[Value], str]] = {"game": _live_game, "pitcher": _live_pitcher}
