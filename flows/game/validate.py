"""Snapshot validation: is this ``feed/live`` payload fit for the engine? Pure, no I/O.

:func:`validate_feed` returns the first failure as ``(ErrorClass, reason)``, or ``None``;
the flow turns a failure into a dead letter (``flows.snapshot_decode``). Checks, in order:

1. ``oversized``: the JSON is larger than ``max_bytes`` (``max_snapshot_bytes``);
2. ``unparsable``: not JSON, or not a JSON object;
3. ``wrong_type``: a field read here, or by the engine's head (the rest of
   ``gameData.status``, the teams' ids), has the wrong JSON type (``null`` included), or
   ``metaData.timeStamp`` is not ``YYYYMMDD_HHMMSS``;
4. ``missing_field``: the minimal set the engine (``flows.game.snapshot_diff``) needs:
   ``gamePk`` (the game's identity), ``metaData.timeStamp`` (orders snapshots: without it a
   snapshot would look older than every other and be dropped as stale, and ``source_ts``
   would be empty), ``gameData.status.abstractGameState`` (the game status event, and
   ``Final`` releases the game's state), ``liveData.plays.allPlays`` (without it the engine
   would retract every event of the game) and each play's ``about.atBatIndex`` (event
   identity). ``liveData.linescore`` is not required: the engine does not read it, and a
   pre-game feed carries one without scores or counts; it is checked when present;
5. ``game_pk_mismatch``: the payload's ``gamePk`` differs from the envelope's or from the
   Kafka key (ASCII digits; no key, no check);
6. ``score_mismatch``: ``linescore.teams.{home,away}.runs`` differs from the sum of the
   innings' runs (MLB omits ``runs`` for a half not started or scoreless in progress: 0);
7. ``impossible_state``: a count out of range in the linescore, ``currentPlay`` or any
   play. A count may show the pitch that ended the plate appearance (real feeds have
   ``strikes == 3`` after a strikeout, ``balls == 4`` after a walk), so the bounds are
   0..4 balls, 0..3 strikes (never both at their maximum), 0..3 outs;
8. ``at_bat_index``: ``allPlays[i].about.atBatIndex`` is not ``i`` (duplicate or missing).

Everything else is ignored: fields come and go by season. The decode reads the objects
above (and nothing else) with the feed model's validation view
(``flows.game.feed_views.ValidationView``); a wrong type in any field of those objects
(say ``linescore.innings[0].home.hits``) is ``wrong_type``.

One scan serves validation and the engine: the feed is scanned once into
:class:`~flows.game.feed_views.FeedScan`, plays kept raw, and :class:`FeedCheck` carries
the engine's head (``flows.game.snapshot_diff.step`` takes it instead of scanning again).
Each play's :class:`~flows.game.feed_views.PlayCheck` is read from its bytes through a
bounded cache keyed by :func:`~flows.game.feed.raw_digest`, the diff's play hash
(:data:`PLAY_CHECKS_MAX` entries, emptied when full): consecutive snapshots of a game repeat
all but their last plays byte for byte, so a snapshot decodes only the plays that changed,
as the engine does. The cache only saves work: a verdict does not depend on what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

import msgspec
from msgspec import UNSET, UnsetType

from flows.game.dead_letters import ErrorClass
from flows.game.envelope import parse_feed_timestamp
from flows.game.feed import FeedHead, raw_digest
from flows.game.feed_live import AtBat, Linescore
from flows.game.feed_views import (
    FeedScan,
    PlayCheck,
    ValidationView,
    decode_play_check,
    decode_scan,
    validation_view,
)

__all__ = ["PLAY_CHECKS_MAX", "Failure", "FeedCheck", "Scanned", "check_feed", "validate_feed"]

Failure = tuple[ErrorClass, str]

MAX_BALLS = 4
MAX_STRIKES = 3
MAX_OUTS = 3
#: plays whose validation view is kept (~0.3 KB each): a day's games at once, many times
PLAY_CHECKS_MAX = 8192
_play_checks: dict[bytes, PlayCheck] = {}


class _AnyJson(msgspec.Struct):
    """No fields: decoding only checks that the bytes are one JSON object."""


_SYNTAX = msgspec.json.Decoder(_AnyJson)


class Scanned(NamedTuple):
    """A payload that decodes: the scan, and validation's view of it."""

    scan: FeedScan
    view: ValidationView


@dataclass(frozen=True, slots=True)
class FeedCheck:
    """The verdict on a payload, and what the flow reads from the same scan: the official
    date and, for an accepted payload, the engine's head."""

    failure: Failure | None
    official_date: date | None = None
    head: FeedHead | None = None


def validate_feed(
    payload_json: bytes, *, key: bytes | None, envelope_game_pk: int, max_bytes: int
) -> Failure | None:
    """The first failure (class, reason) of a ``feed/live`` payload, or ``None``."""
    return check_feed(
        payload_json, key=key, envelope_game_pk=envelope_game_pk, max_bytes=max_bytes
    ).failure


def check_feed(
    payload_json: bytes, *, key: bytes | None, envelope_game_pk: int, max_bytes: int
) -> FeedCheck:
    """:func:`validate_feed` plus ``gameData.datetime.officialDate`` when it is a date."""
    failure = check_size(payload_json, max_bytes)
    if failure is not None:
        return FeedCheck(failure)
    scanned = decode_feed(payload_json)
    if not isinstance(scanned, Scanned):
        return FeedCheck(scanned)
    scan, decoded = scanned
    for check in (
        check_required_fields(decoded),
        check_timestamp(decoded),
        check_game_pk(decoded, key, envelope_game_pk),
        check_score(decoded),
        check_counts(decoded),
        check_at_bat_indexes(decoded),
    ):
        if check is not None:
            return FeedCheck(check)
    return FeedCheck(None, _official_date(decoded), scan.head())


def check_size(payload_json: bytes, max_bytes: int) -> Failure | None:
    if len(payload_json) > max_bytes:
        return ErrorClass.OVERSIZED, (
            f"payload is {len(payload_json)} bytes, more than max_snapshot_bytes={max_bytes}"
        )
    return None


def decode_feed(payload_json: bytes) -> Scanned | Failure:
    """The scan and the fields validated here, or ``unparsable`` / ``wrong_type``."""
    try:
        scan = decode_scan(payload_json)
        return Scanned(scan, validation_view(scan, _play_check))
    except msgspec.ValidationError as e:  # a subclass of DecodeError: first
        type_error = e
    except msgspec.DecodeError as e:
        return ErrorClass.UNPARSABLE, f"payload is not JSON: {e}"
    try:  # a type error is reported only in a well-formed JSON object
        _SYNTAX.decode(payload_json)
    except msgspec.ValidationError:
        return ErrorClass.UNPARSABLE, "payload is JSON but not an object"
    except msgspec.DecodeError as e:
        return ErrorClass.UNPARSABLE, f"payload is not JSON: {e}"
    return ErrorClass.WRONG_TYPE, f"payload: {type_error}"


def _play_check(raw: msgspec.Raw) -> PlayCheck:
    """:func:`~flows.game.feed_views.decode_play_check`, through the cache (module
    docstring); a play that does not fit raises each time, and is not kept."""
    key = raw_digest(raw)
    check = _play_checks.get(key)
    if check is None:
        check = decode_play_check(raw)
        if len(_play_checks) >= PLAY_CHECKS_MAX:
            _play_checks.clear()
        _play_checks[key] = check
    return check


def check_required_fields(feed: ValidationView) -> Failure | None:
    missing = _first_missing(feed)
    return None if missing is None else (ErrorClass.MISSING_FIELD, f"{missing} is missing")


def _first_missing(feed: ValidationView) -> str | None:
    if isinstance(feed.gamePk, UnsetType):
        return "gamePk"
    if isinstance(feed.metaData, UnsetType) or isinstance(feed.metaData.time_stamp, UnsetType):
        return "metaData.timeStamp"
    game = feed.gameData
    if isinstance(game, UnsetType) or isinstance(game.status, UnsetType):
        return "gameData.status"
    if isinstance(game.status.abstract_game_state, UnsetType):
        return "gameData.status.abstractGameState"
    live = feed.liveData
    if isinstance(live, UnsetType) or isinstance(live.plays, UnsetType):
        return "liveData.plays"
    if isinstance(live.plays.all_plays, UnsetType):
        return "liveData.plays.allPlays"
    for i, play in enumerate(live.plays.all_plays):
        if isinstance(play.about, UnsetType) or isinstance(play.about.at_bat_index, UnsetType):
            return f"liveData.plays.allPlays[{i}].about.atBatIndex"
    return None


def check_timestamp(feed: ValidationView) -> Failure | None:
    """The engine parses ``metaData.timeStamp``: a malformed one must not reach it."""
    stamp = feed.metaData.time_stamp if not isinstance(feed.metaData, UnsetType) else UNSET
    if isinstance(stamp, str):
        try:
            parse_feed_timestamp(stamp)
        except ValueError:
            return ErrorClass.WRONG_TYPE, f"metaData.timeStamp {stamp!r} is not YYYYMMDD_HHMMSS"
    return None


def check_game_pk(feed: ValidationView, key: bytes | None, envelope_game_pk: int) -> Failure | None:
    game_pk = feed.gamePk
    if game_pk != envelope_game_pk:
        return ErrorClass.GAME_PK_MISMATCH, (
            f"envelope gamePk {envelope_game_pk} but payload gamePk {game_pk}"
        )
    if key is not None and (not key.isdigit() or int(key) != game_pk):
        return ErrorClass.GAME_PK_MISMATCH, f"Kafka key {key!r} but payload gamePk {game_pk}"
    return None


def check_score(feed: ValidationView) -> Failure | None:
    line = _linescore(feed)
    if line is None or line.teams is None:
        return None
    for side in ("home", "away"):
        total = getattr(line.teams, side)
        if total is None or total.runs is None:
            continue
        innings = [getattr(inning, side) for inning in line.innings]
        summed = sum(runs.runs or 0 for runs in innings if runs is not None)
        if summed != total.runs:
            return ErrorClass.SCORE_MISMATCH, (
                f"linescore.teams.{side}.runs is {total.runs} but its innings sum to {summed}"
            )
    return None


def check_counts(feed: ValidationView) -> Failure | None:
    line = _linescore(feed)
    if line is not None:
        failure = _impossible_count(line.balls, line.strikes, line.outs, "liveData.linescore")
        if failure is not None:
            return failure
    if isinstance(feed.liveData, UnsetType) or isinstance(feed.liveData.plays, UnsetType):
        return None
    plays = feed.liveData.plays
    current = plays.currentPlay
    if isinstance(current, PlayCheck) and current.count is not None:
        count = current.count
        where = "liveData.plays.currentPlay.count"
        failure = _impossible_count(count.balls, count.strikes, count.outs, where)
        if failure is not None:
            return failure
    for i, play in enumerate(plays.allPlays):
        if play.count is not None:
            count, where = play.count, f"liveData.plays.allPlays[{i}].count"
            failure = _impossible_count(count.balls, count.strikes, count.outs, where)
            if failure is not None:
                return failure
    return None


def _impossible_count(
    balls: int | None, strikes: int | None, outs: int | None, where: str
) -> Failure | None:
    if (
        (balls is not None and not 0 <= balls <= MAX_BALLS)
        or (strikes is not None and not 0 <= strikes <= MAX_STRIKES)
        or (outs is not None and not 0 <= outs <= MAX_OUTS)
        or (balls == MAX_BALLS and strikes == MAX_STRIKES)
    ):
        return ErrorClass.IMPOSSIBLE_STATE, (
            f"{where} is {balls} balls, {strikes} strikes, {outs} outs"
        )
    return None


def check_at_bat_indexes(feed: ValidationView) -> Failure | None:
    if isinstance(feed.liveData, UnsetType) or isinstance(feed.liveData.plays, UnsetType):
        return None
    for i, play in enumerate(feed.liveData.plays.allPlays):
        index = play.about.at_bat_index if isinstance(play.about, AtBat) else UNSET
        if index != i:
            return ErrorClass.AT_BAT_INDEX, (
                f"liveData.plays.allPlays[{i}].about.atBatIndex is {index}, expected {i} "
                "(an at-bat is duplicated or missing)"
            )
    return None


def _linescore(feed: ValidationView) -> Linescore | None:
    return feed.liveData.linescore if not isinstance(feed.liveData, UnsetType) else None


def _official_date(feed: ValidationView) -> date | None:
    if isinstance(feed.gameData, UnsetType) or feed.gameData.datetime is None:
        return None
    official = feed.gameData.datetime.officialDate
    try:
        return date.fromisoformat(official) if official is not None else None
    except ValueError:
        return None
