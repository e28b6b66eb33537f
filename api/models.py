"""The shapes of the API's answers, for its published OpenAPI schema (``/v1/openapi.json``).

Field names are the column names of the tables they come from (docs/architecture.md,
section 1, "Tables"); documents stored as JSON (the box score of ``mlbsts boxscore``, a
game's live state in Redis) are passed on as they are. The routes encode rows with orjson
directly (fast) and these models describe the result: the integration tests validate real
answers against them, and the fuzz test validates every answer against the schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["BoxScore", "GamesOfDate", "LineScore", "LiveState", "PitcherFigures", "Pitches"]
__all__ += ["Plays", "Problem", "Windows"]


class Problem(BaseModel):
    """The body of every error answer."""

    status: int
    error: str
    message: str
    details: list[dict[str, Any]] = []


class Status(BaseModel):
    abstract_game_state: str | None
    detailed_state: str | None
    coded_game_state: str | None = None


class TeamScore(BaseModel):
    team_id: int | None
    name: str | None
    abbreviation: str | None
    runs: int | None
    hits: int | None
    errors: int | None


class GameSummary(BaseModel):
    game_pk: int
    game_date: dt.date
    game_number: int | None
    double_header: str | None
    start_time: dt.datetime | None
    status: Status
    current_inning: int | None
    inning_half: str | None
    scheduled_innings: int | None
    venue_id: int | None
    home: TeamScore
    away: TeamScore
    source_ts: str


class GamesOfDate(BaseModel):
    date: dt.date
    games: list[GameSummary]


class InningSide(BaseModel):
    runs: int | None
    hits: int | None
    errors: int | None
    left_on_base: int | None


class Inning(BaseModel):
    num: int
    home: InningSide | None
    away: InningSide | None


class Totals(BaseModel):
    runs: int | None
    hits: int | None
    errors: int | None


class SideTotals(BaseModel):
    home: Totals
    away: Totals


class LineScore(BaseModel):
    game_pk: int
    status: Status
    current_inning: int | None
    inning_half: str | None
    innings: list[Inning]
    totals: SideTotals
    source_ts: str


class BoxScore(BaseModel):
    game_pk: int
    status: Status
    totals: SideTotals
    box: dict[str, Any]  # the `mlbsts boxscore` JSON: gamePk, teams, linescore
    source_ts: str


class Play(BaseModel):
    game_pk: int
    at_bat_index: int
    inning: int
    half_inning: str
    event_type: str | None
    event: str | None
    description: str | None
    rbi: int
    is_out: bool
    outs: int
    away_score: int
    home_score: int
    batter_id: int | None
    pitcher_id: int | None
    is_scoring_play: bool
    has_review: bool
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    event_id: str
    revision: int
    source_ts: str


class Plays(BaseModel):
    game_pk: int
    plays: list[Play]
    next_cursor: str | None


class Pitch(BaseModel):
    model_config = ConfigDict(extra="allow")  # every flattened pitchData/hitData column

    game_pk: int
    at_bat_index: int
    play_event_index: int
    play_id: str | None
    type: str
    is_pitch: bool
    pitch_number: int | None
    inning: int
    half_inning: str
    code: str | None
    description: str | None
    pitcher_id: int | None
    batter_id: int | None
    pitch_type: str | None
    start_speed: float | None
    balls_after: int
    strikes_after: int
    outs_after: int
    event_id: str
    revision: int
    source_ts: str


class Pitches(BaseModel):
    game_pk: int
    pitches: list[Pitch]
    next_cursor: str | None


class PitcherFigures(BaseModel):
    game_pk: int
    pitcher_id: int
    full_name: str | None
    source_ts: str
    pitches: int
    last_n: int
    velo_mean: float | None
    velo_max: float | None
    window_start: dt.datetime | None
    window_pitches: int
    window_velo_mean: float | None
    window_velo_max: float | None
    fastballs: int
    fb_baseline: float | None
    fb_recent: float | None
    fatigue: bool
    updated_at: dt.datetime


class Window(BaseModel):
    window_start: dt.datetime
    window_end: dt.datetime
    source_ts: str
    games: int
    pitches: int
    balls_in_play: int
    exit_velocity_n: int
    exit_velocity_avg: float | None
    home_runs: int
    updated_at: dt.datetime


class Windows(BaseModel):
    start: dt.datetime
    end: dt.datetime
    windows: list[Window]


class LiveState(BaseModel):
    """A game's live state as the dataflow keeps it in Redis (``LiveStats`` as JSON)."""

    model_config = ConfigDict(extra="allow")

    gamePk: int  # noqa: N815 - the stored document's own names
    source_ts: str
    abstractGameState: str | None  # noqa: N815
    detailedState: str | None  # noqa: N815
    box: dict[str, Any]
    innings: list[dict[str, Any]]
    away_runs: int
    away_hits: int
    away_errors: int
    home_runs: int
    home_hits: int
    home_errors: int
