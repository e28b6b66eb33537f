"""Game-table rows of one snapshot, pure: the tables of ``sql/0002_normalized_game.sql`` and
the builders of their rows from the feed model's game-tables view.

A snapshot is decoded with :func:`flows.game.feed_views.decode_game_tables_view` (only the
parts these tables hold: the plays are skipped unparsed), then :func:`snapshot_rows` turns
it into one row tuple per table row, in each table's column order; ``source_ts`` is the
feed's ``metaData.timeStamp``. ``connectors.pg_game_tables`` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from connectors.pg_rows import timestamp
from connectors.pg_upsert import Row, Table
from flows.game.feed_game import Player, Team, Venue
from flows.game.feed_live import BoxTeam, Decisions, LinescoreLine
from flows.game.feed_views import GameTablesView

__all__ = [
    "GAMES",
    "GAME_DECISIONS",
    "GAME_OFFICIALS",
    "GAME_PLAYERS",
    "GAME_ROSTER_LISTS",
    "GAME_TABLES",
    "LINESCORE_INNINGS",
    "PER_GAME_TABLES",
    "PLAYERS",
    "SHARED_TABLES",
    "TEAMS",
    "VENUES",
    "SnapshotRows",
    "snapshot_rows",
]

VENUES = Table.of(
    "venues",
    "venue_id name city state country time_zone capacity turf_type roof_type latitude "
    "longitude elevation source_ts",
    "venue_id",
    versioned=False,
)
TEAMS = Table.of(
    "teams",
    "team_id name abbreviation team_name location_name league_id division_id venue_id source_ts",
    "team_id",
    versioned=False,
)
PLAYERS = Table.of(
    "players",
    "player_id full_name first_name last_name boxscore_name primary_number birth_date "
    "height weight bat_side pitch_hand primary_position mlb_debut_date active source_ts",
    "player_id",
    versioned=False,
)
GAMES = Table.of(
    "games",
    "game_pk game_date season game_type double_header game_number day_night start_time "
    "first_pitch home_team_id away_team_id venue_id abstract_game_state detailed_state "
    "coded_game_state status_code current_inning inning_half scheduled_innings home_runs "
    "home_hits home_errors away_runs away_hits away_errors attendance duration_minutes "
    "weather_condition weather_temp weather_wind official_scorer_id source_ts",
    "game_pk",
    versioned=False,
)
LINESCORE_INNINGS = Table.of(
    "linescore_innings",
    "game_pk inning side runs hits errors left_on_base source_ts",
    "game_pk inning side",
    versioned=False,
)
GAME_PLAYERS = Table.of(
    "game_players",
    "game_pk player_id side team_id jersey_number position batting_order status_code "
    "is_substitute source_ts",
    "game_pk player_id",
    versioned=False,
)
GAME_ROSTER_LISTS = Table.of(
    "game_roster_lists",
    "game_pk side list_name player_id ordinal source_ts",
    "game_pk side list_name player_id",
    versioned=False,
)
GAME_OFFICIALS = Table.of(
    "game_officials",
    "game_pk official_type official_id full_name source_ts",
    "game_pk official_type",
    versioned=False,
)
GAME_DECISIONS = Table.of(
    "game_decisions",
    "game_pk winner_id loser_id save_id source_ts",
    "game_pk",
    versioned=False,
)
SHARED_TABLES = (VENUES, TEAMS, PLAYERS)
PER_GAME_TABLES = (
    *(LINESCORE_INNINGS, GAME_PLAYERS, GAME_ROSTER_LISTS, GAME_OFFICIALS, GAME_DECISIONS),
)
GAME_TABLES = (GAMES, *SHARED_TABLES, *PER_GAME_TABLES)
_BY_NAME = {t.name: t for t in GAME_TABLES}
_SIDES = ("home", "away")
_LISTS = ("battingOrder", "batters", "pitchers", "bench", "bullpen")
_NO_LINE = LinescoreLine()


@dataclass(frozen=True, slots=True)
class SnapshotRows:
    """Every game-table row of one snapshot, by table name; ``source_ts`` its timestamp."""

    game_pk: int
    source_ts: str
    rows: dict[str, list[Row]]


def _date(value: str | None) -> date | None:
    try:
        return None if value is None else date.fromisoformat(value)
    except ValueError:
        return None


def _unique(table: Table, rows: list[Row]) -> list[Row]:
    """The last row per key (one statement may not update a row twice)."""
    at = [table.columns.index(k) for k in table.key]
    return list({tuple(row[i] for i in at): row for row in rows}.values())


def _game_row(snap: GameTablesView, game_date: date) -> Row:
    gd, line = snap.gameData, snap.liveData.linescore
    game, status, info, weather = gd.game, gd.status, gd.gameInfo, gd.weather
    teams = line.teams
    home = (teams.home if teams is not None else None) or _NO_LINE
    away = (teams.away if teams is not None else None) or _NO_LINE
    state = status.abstract_game_state
    return (
        *(snap.gamePk, game_date, game.season, game.type, game.doubleHeader, game.gameNumber),
        *(gd.datetime.dayNight, timestamp(gd.datetime.dateTime), timestamp(info.firstPitch)),
        *(gd.teams.home.id, gd.teams.away.id, gd.venue.id),
        *(state if isinstance(state, str) else None, status.detailedState or None),
        *(status.codedGameState or None, status.statusCode, line.currentInning),
        *(line.inningHalf, line.scheduledInnings, home.runs, home.hits, home.errors),
        *(away.runs, away.hits, away.errors, info.attendance, info.gameDurationMinutes),
        *(weather.condition, weather.temp, weather.wind),
        *(gd.officialScorer.id if gd.officialScorer is not None else None, snap.metaData.timeStamp),
    )


def _venue_row(venue: Venue, ts: str) -> Row:
    loc, field = venue.location, venue.fieldInfo
    where = loc.defaultCoordinates
    return (
        *(venue.id, venue.name, loc.city, loc.state, loc.country, venue.timeZone.id),
        *(field.capacity, field.turfType, field.roofType, where.latitude, where.longitude),
        *(loc.elevation, ts),
    )


def _team_row(team: Team, ts: str) -> Row:
    return (
        *(team.id, team.name, team.abbreviation, team.teamName, team.locationName),
        *(team.league.id, team.division.id, team.venue.id, ts),
    )


def _player_row(p: Player, ts: str) -> Row:
    return (
        *(p.id, p.fullName, p.firstName, p.lastName, p.boxscoreName, p.primaryNumber),
        *(_date(p.birthDate), p.height, p.weight, p.batSide.code, p.pitchHand.code),
        *(p.primaryPosition.abbreviation, _date(p.mlbDebutDate), p.active, ts),
    )


def _linescore_rows(snap: GameTablesView, ts: str) -> list[Row]:
    """Both sides of every numbered inning (a side MLB leaves out is a row of NULLs)."""
    return [
        (snap.gamePk, inning.num, side, ln.runs, ln.hits, ln.errors, ln.leftOnBase, ts)
        for inning in snap.liveData.linescore.innings
        if inning.num is not None
        for side, ln in (("home", inning.home or _NO_LINE), ("away", inning.away or _NO_LINE))
    ]


def _box_rows(pk: int, box: dict[str, BoxTeam], ts: str) -> dict[str, list[Row]]:
    """The game's players and its roster lists (batting order, bench, bullpen...)."""
    return {
        GAME_PLAYERS.name: [
            (
                *(pk, p.person.id, side, box[side].team.id, p.jerseyNumber),
                *(p.position.abbreviation, p.battingOrder, p.status.code),
                *(p.gameStatus.isSubstitute, ts),
            )
            for side in _SIDES
            for p in box[side].players.values()
            if p.person is not None
        ],
        GAME_ROSTER_LISTS.name: [
            (pk, side, name, person, ordinal, ts)
            for side in _SIDES
            for name in _LISTS
            for ordinal, person in enumerate(getattr(box[side], name), start=1)
        ],
    }


def _decision_rows(pk: int, decided: Decisions | None, ts: str) -> list[Row]:
    if decided is None or decided == Decisions():
        return []
    ids = (p.id if p is not None else None for p in (decided.winner, decided.loser, decided.save))
    return [(pk, *ids, ts)]


def snapshot_rows(snap: GameTablesView, game_date: date) -> SnapshotRows:
    """The rows of every game table for ``snap`` (pure)."""
    pk, ts, gd, ld = snap.gamePk, snap.metaData.timeStamp, snap.gameData, snap.liveData
    box = {"home": ld.boxscore.teams.home, "away": ld.boxscore.teams.away}
    rows: dict[str, list[Row]] = {
        GAMES.name: [_game_row(snap, game_date)],
        VENUES.name: [_venue_row(gd.venue, ts)] if gd.venue.id else [],
        TEAMS.name: [_team_row(t, ts) for t in (gd.teams.home, gd.teams.away) if t.id],
        PLAYERS.name: [_player_row(p, ts) for p in gd.players.values()],
        LINESCORE_INNINGS.name: _linescore_rows(snap, ts),
        **_box_rows(pk, box, ts),
        GAME_OFFICIALS.name: [
            (pk, o.officialType, o.official.id, o.official.fullName, ts)
            for o in ld.boxscore.officials
            if o.officialType is not None and o.official is not None
        ],
        GAME_DECISIONS.name: _decision_rows(pk, ld.decisions, ts),
    }
    unique = {name: _unique(_BY_NAME[name], table_rows) for name, table_rows in rows.items()}
    return SnapshotRows(game_pk=pk, source_ts=ts, rows=unique)
