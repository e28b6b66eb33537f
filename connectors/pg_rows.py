"""Rows for the normalized PostgreSQL tier, pure: tolerant value getters, the event tables
(``sql/0002_normalized_events.sql``) and the builders of their rows.

The getters read MLB's JSON, whose fields vary by season and feed (absent, or a number sent
as a string or a boolean): each returns the value in its column's type, or None, never an
exception (``connectors.pg_game_tables`` uses them too).

Each event kind has a table keyed by its identity (docs/architecture.md section 2) and a
builder turning one event into one row tuple in the table's column order.
:func:`event_rows` keeps, per ``event_id``, the newest content (newest ``source_ts``, then
highest ``revision``) and the newest :class:`~flows.game.events.Retraction`;
``connectors.pg_normalized`` writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from connectors.pg_upsert import Row, Table
from flows.game.events import Event, GameEvent, PitchEvent, PlayEvent, Retraction, RunnerEvent

__all__ = [
    "EVENT_TABLES",
    "GAME_ACTIONS",
    "GAME_STATUS",
    "PITCH_EVENTS",
    "PLAYS",
    "REVIEWS",
    "RUNNER_EVENTS",
    "EventRows",
    "action_row",
    "dict_value",
    "event_rows",
    "integer",
    "jsonb",
    "number",
    "numbers",
    "pitch_row",
    "play_row",
    "review_row",
    "runner_row",
    "status_row",
    "table_of_event_id",
    "text",
    "timestamp",
]

_VERSION = " event_id revision source_ts retracted"
PLAYS = Table.of(
    "plays",
    "game_pk at_bat_index inning half_inning event_type event description rbi is_out outs "
    "away_score home_score batter_id pitcher_id is_scoring_play has_review start_time "
    "end_time" + _VERSION,
    "game_pk at_bat_index",
)
PITCH_EVENTS = Table.of(
    "pitch_events",
    "game_pk at_bat_index play_event_index play_id type is_pitch pitch_number inning "
    "half_inning code description is_strike is_ball is_in_play is_out balls_before "
    "strikes_before outs_before balls_after strikes_after outs_after pitcher_id batter_id "
    "pitch_type start_speed end_speed strike_zone_top strike_zone_bottom zone "
    "type_confidence plate_time extension spin_rate spin_direction break_angle break_length "
    "break_y break_vertical break_vertical_induced break_horizontal plate_x plate_z pfx_x "
    "pfx_z x0 y0 z0 vx0 vy0 vz0 ax ay az launch_speed launch_angle total_distance "
    "trajectory hardness hit_location hit_coord_x hit_coord_y pitch_data hit_data "
    "start_time end_time" + _VERSION,
    "game_pk at_bat_index play_event_index",
)
RUNNER_EVENTS = Table.of(
    "runner_events",
    "game_pk at_bat_index play_event_index runner_id start_base occurrence end_base "
    "out_base is_out out_number is_scoring_event rbi earned team_unearned "
    "responsible_pitcher_id pitcher_id inning half_inning event_type event movement_reason "
    "error_fielder_ids" + _VERSION,
    "game_pk at_bat_index play_event_index runner_id start_base occurrence",
)
GAME_ACTIONS = Table.of(
    "game_actions",
    "game_pk at_bat_index play_event_index action inning half_inning description player_id "
    "replaced_player_id position batting_order is_substitution" + _VERSION,
    "game_pk at_bat_index play_event_index",
)
REVIEWS = Table.of(
    "reviews",
    "game_pk at_bat_index inning half_inning review_type is_overturned in_progress "
    "challenge_team_id review" + _VERSION,
    "game_pk at_bat_index",
)
GAME_STATUS = Table.of(
    "game_status",
    "game_pk abstract_game_state detailed_state coded_game_state home_team_id away_team_id"
    + _VERSION,
    "game_pk",
)
EVENT_TABLES = (PLAYS, PITCH_EVENTS, RUNNER_EVENTS, GAME_ACTIONS, REVIEWS, GAME_STATUS)


# --- tolerant getters ---------------------------------------------------------------


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def jsonb(value: object) -> Jsonb | None:
    return None if value is None else Jsonb(value, dumps=_json)


def timestamp(value: str | None) -> datetime | None:
    """An ISO 8601 time from the feed, or None when absent or malformed."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def number(data: dict[str, Any] | None, key: str) -> float | None:
    value = None if data is None else data.get(key)
    kind = type(value)
    if kind is float or kind is int:  # exact types: bool is not a number here
        return float(value)  # type: ignore[arg-type]
    return None


def numbers(data: dict[str, Any] | None, keys: str) -> list[float | None]:
    return [number(data, key) for key in keys.split()]


def integer(data: dict[str, Any] | None, key: str) -> int | None:
    value = number(data, key)
    return int(value) if value is not None and value.is_integer() else None


def text(data: dict[str, Any] | None, key: str) -> str | None:
    value = None if data is None else data.get(key)
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    return str(value)


def dict_value(data: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    value = None if data is None else data.get(key)
    return value if isinstance(value, dict) else None


# --- event rows ------------------------------------------------------------------------


def _version(event: Event) -> Row:
    return (event.event_id, event.revision, event.source_ts, False)


def play_row(e: PlayEvent) -> Row:
    return (
        *(e.gamePk, e.atBatIndex, e.inning, e.halfInning, e.eventType, e.event),
        *(e.description, e.rbi, e.isOut, e.outs, e.awayScore, e.homeScore, e.batterId),
        *(e.pitcherId, e.isScoringPlay, e.hasReview, timestamp(e.startTime)),
        *(timestamp(e.endTime), *_version(e)),
    )


def pitch_row(e: PitchEvent) -> Row:
    pd, hd = e.pitchData, e.hitData
    breaks, coords = dict_value(pd, "breaks"), dict_value(pd, "coordinates")
    hit_coords = dict_value(hd, "coordinates")
    b, a = e.countBefore, e.countAfter
    return (
        *(e.gamePk, e.atBatIndex, e.playEventIndex, e.playId, e.type, e.isPitch),
        *(e.pitchNumber, e.inning, e.halfInning, e.code, e.description, e.isStrike),
        *(e.isBall, e.isInPlay, e.isOut, b.balls, b.strikes, b.outs, a.balls, a.strikes),
        *(a.outs, e.pitcherId, e.batterId, e.pitchType),
        *numbers(pd, "startSpeed endSpeed strikeZoneTop strikeZoneBottom"),
        integer(pd, "zone"),
        *numbers(pd, "typeConfidence plateTime extension"),
        *numbers(breaks, "spinRate spinDirection breakAngle breakLength breakY breakVertical"),
        *numbers(breaks, "breakVerticalInduced breakHorizontal"),
        *numbers(coords, "pX pZ pfxX pfxZ x0 y0 z0 vX0 vY0 vZ0 aX aY aZ"),
        *numbers(hd, "launchSpeed launchAngle totalDistance"),
        *(text(hd, k) for k in ("trajectory", "hardness", "location")),
        *numbers(hit_coords, "coordX coordY"),
        *(jsonb(pd), jsonb(hd), timestamp(e.startTime), timestamp(e.endTime), *_version(e)),
    )


def _occurrence(event_id: str) -> int:
    """1, or n for an event id with the ``:n`` suffix MLB's repeated runner entries get."""
    parts = event_id.split(":")
    return int(parts[6]) if len(parts) > 6 and parts[6].isdigit() else 1


def runner_row(e: RunnerEvent) -> Row:
    return (
        *(e.gamePk, e.atBatIndex, -1 if e.playEventIndex is None else e.playEventIndex),
        *(e.runnerId, e.startBase or "B", _occurrence(e.event_id), e.endBase, e.outBase),
        *(e.isOut, e.outNumber, e.isScoringEvent, e.rbi, e.earned, e.teamUnearned),
        *(e.responsiblePitcherId, e.pitcherId, e.inning, e.halfInning, e.eventType),
        *(e.event, e.movementReason, list(e.errorFielderIds), *_version(e)),
    )


def action_row(e: GameEvent) -> Row:
    return (
        *(e.gamePk, e.atBatIndex, e.playEventIndex, e.action, e.inning, e.halfInning),
        *(e.description, e.playerId, e.replacedPlayerId, e.position, e.battingOrder),
        *(e.isSubstitution, *_version(e)),
    )


def review_row(e: GameEvent) -> Row:
    review = e.review or {}
    overturned, in_progress = review.get("isOverturned"), review.get("inProgress")
    return (
        *(e.gamePk, e.atBatIndex, e.inning, e.halfInning, text(review, "reviewType")),
        overturned if isinstance(overturned, bool) else None,
        in_progress if isinstance(in_progress, bool) else None,
        *(integer(review, "challengeTeamId"), jsonb(review), *_version(e)),
    )


def status_row(e: GameEvent) -> Row:
    return (
        *(e.gamePk, e.abstractGameState, e.detailedState, e.codedGameState),
        *(e.homeTeamId, e.awayTeamId, *_version(e)),
    )


def table_of_event_id(event_id: str) -> Table | None:
    """The table holding the event ``event_id`` names (see ``flows.game.events``)."""
    kind = event_id.split(":", 1)[0]
    if kind == "game":
        if event_id.endswith(":status"):
            return GAME_STATUS
        return REVIEWS if event_id.endswith(":review") else GAME_ACTIONS
    return {"pitch": PITCH_EVENTS, "play": PLAYS, "runner": RUNNER_EVENTS}.get(kind)


def _row_of(event: Event) -> tuple[Table, Row] | None:
    if isinstance(event, PitchEvent):
        return PITCH_EVENTS, pitch_row(event)
    if isinstance(event, PlayEvent):
        return PLAYS, play_row(event)
    if isinstance(event, RunnerEvent):
        return RUNNER_EVENTS, runner_row(event)
    if isinstance(event, GameEvent):
        if event.action == "status":
            return GAME_STATUS, status_row(event)
        if event.atBatIndex is None:
            return None
        if event.action == "review":
            return REVIEWS, review_row(event)
        if event.playEventIndex is not None:
            return GAME_ACTIONS, action_row(event)
    return None


@dataclass(slots=True)
class EventRows:
    """Rows to upsert and retractions to apply, by table name."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    retractions: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    skipped: int = 0


def _latest(events: Iterable[Event]) -> list[Event]:
    best: dict[str, Event] = {}
    for event in events:
        old = best.get(event.event_id)
        if old is None or (event.source_ts, event.revision) > (old.source_ts, old.revision):
            best[event.event_id] = event
    return list(best.values())


def event_rows(events: Iterable[Event]) -> EventRows:
    """The rows of ``events``: per ``event_id`` the newest content and newest retraction.

    Both are kept (the upserts run first), so a batch holding an event and its later
    retraction leaves a retracted row, as two batches would.
    """
    events = list(events)
    out = EventRows()
    for event in _latest(e for e in events if not isinstance(e, Retraction)):
        built = _row_of(event)
        if built is None:
            out.skipped += 1
            continue
        out.rows.setdefault(built[0].name, []).append(built[1])
    for event in _latest(e for e in events if isinstance(e, Retraction)):
        table = table_of_event_id(event.event_id)
        if table is None:
            out.skipped += 1
            continue
        out.retractions.setdefault(table.name, []).append(
            {"event_id": event.event_id, "revision": event.revision, "ts": event.source_ts}
        )
    return out
