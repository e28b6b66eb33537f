"""PostgreSQL edge, normalized tier: game tables from raw snapshots (``0002_normalized_game``).

A snapshot (a ``feed/live`` response, up to ~2 MB late in a game) is decoded with msgspec
into only the parts these tables need (the plays are skipped unparsed into objects), then
turned into rows by pure functions. :func:`write_snapshot` writes one snapshot in one
transaction, gated by its feed timestamp (``source_ts``):

1. the ``games`` row is upserted with ``WHERE EXCLUDED.source_ts > t.source_ts``; if the
   stored row is as new or newer, nothing else is written (a stale or repeated snapshot);
2. venue, teams and players are upserted under the same per-row guard (they are shared
   between games: the newest snapshot of any game wins);
3. the per-game tables (line score innings, game players, roster lists, officials,
   decisions) are upserted, then the rows of the game that the snapshot no longer lists
   (older ``source_ts``) are deleted.

:class:`GameTablesSink` writes the newest snapshot of each game in a Bytewax batch
(at-least-once, idempotent), and refreshes a game's tables at most every
``REFRESH_EVERY`` of feed time, except that a change of the game's status and a Final
snapshot are always written. These tables are reference data (rosters, players,
officials, decisions, innings) whose live parts the live box score carries on every
snapshot; rewriting ~190 rows per pitch (~55 ms) was the flow's largest cost. The final
state does not depend on the refreshes: a Final snapshot rewrites every row. Bad payloads
are logged and skipped (the raw tier keeps them); database failures raise
:class:`connectors.postgres.PostgresError`, retried.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import msgspec
import psycopg
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from psycopg import sql

from connectors import postgres
from connectors.pg_normalized import (
    Conn,
    Row,
    Table,
    connect,
    integer,
    number,
    text,
    timestamp,
    upsert,
)
from connectors.pg_normalized import transient as _transient
from connectors.rejects import Rejects, raise_rejected, reject_snapshot
from flows.game.accepted import AcceptedSnapshot
from flows.game.envelope import parse_feed_timestamp

__all__ = [
    "GAME_TABLES",
    "GameTablesSink",
    "SnapshotRows",
    "decode_snapshot",
    "snapshot_rows",
    "write_snapshot",
]

log = logging.getLogger(__name__)

JSON = dict[str, Any]


class _Code(msgspec.Struct, frozen=True):
    code: str | None = None
    abbreviation: str | None = None


class _Ref(msgspec.Struct, frozen=True):
    id: int | None = None
    fullName: str | None = None  # noqa: N815 - MLB's names


class _Player(msgspec.Struct, frozen=True):
    id: int
    fullName: str | None = None  # noqa: N815
    firstName: str | None = None  # noqa: N815
    lastName: str | None = None  # noqa: N815
    boxscoreName: str | None = None  # noqa: N815
    primaryNumber: str | None = None  # noqa: N815
    birthDate: str | None = None  # noqa: N815
    height: str | None = None
    weight: int | None = None
    batSide: _Code = _Code()  # noqa: N815
    pitchHand: _Code = _Code()  # noqa: N815
    primaryPosition: _Code = _Code()  # noqa: N815
    mlbDebutDate: str | None = None  # noqa: N815
    active: bool | None = None


class _GameData(msgspec.Struct, frozen=True):
    players: dict[str, _Player] = {}
    # small objects, read with the tolerant getters of connectors.pg_normalized
    game: JSON = {}
    datetime: JSON = {}
    status: JSON = {}
    teams: JSON = {}
    venue: JSON = {}
    weather: JSON = {}
    gameInfo: JSON = {}  # noqa: N815
    officialScorer: JSON = {}  # noqa: N815


class _Line(msgspec.Struct, frozen=True):
    runs: int | None = None
    hits: int | None = None
    errors: int | None = None
    leftOnBase: int | None = None  # noqa: N815


class _Inning(msgspec.Struct, frozen=True):
    num: int
    home: _Line = _Line()
    away: _Line = _Line()


class _Linescore(msgspec.Struct, frozen=True):
    currentInning: int | None = None  # noqa: N815
    inningHalf: str | None = None  # noqa: N815
    scheduledInnings: int | None = None  # noqa: N815
    innings: list[_Inning] = []
    teams: dict[str, _Line] = {}


class _PlayerGameStatus(msgspec.Struct, frozen=True):
    isSubstitute: bool | None = None  # noqa: N815


class _BoxPlayer(msgspec.Struct, frozen=True):
    person: _Ref = _Ref()
    jerseyNumber: str | None = None  # noqa: N815
    position: _Code = _Code()
    battingOrder: str | None = None  # noqa: N815
    status: _Code = _Code()
    gameStatus: _PlayerGameStatus = _PlayerGameStatus()  # noqa: N815


class _BoxTeam(msgspec.Struct, frozen=True):
    team: _Ref = _Ref()
    battingOrder: list[int] = []  # noqa: N815
    batters: list[int] = []
    pitchers: list[int] = []
    bench: list[int] = []
    bullpen: list[int] = []
    players: dict[str, _BoxPlayer] = {}  # their stats are skipped, not decoded


class _Official(msgspec.Struct, frozen=True):
    official: _Ref = _Ref()
    officialType: str | None = None  # noqa: N815


class _Boxscore(msgspec.Struct, frozen=True):
    teams: dict[str, _BoxTeam] = {}
    officials: list[_Official] = []


class _LiveData(msgspec.Struct, frozen=True):
    linescore: _Linescore = _Linescore()
    boxscore: _Boxscore = _Boxscore()
    decisions: dict[str, _Ref] | None = None
    # plays are not declared: msgspec skips them without building objects


class _MetaData(msgspec.Struct, frozen=True):
    timeStamp: str = ""  # noqa: N815


class Snapshot(msgspec.Struct, frozen=True):
    """The parts of a ``feed/live`` response the game tables hold."""

    gamePk: int  # noqa: N815
    metaData: _MetaData = _MetaData()  # noqa: N815
    gameData: _GameData = _GameData()  # noqa: N815
    liveData: _LiveData = _LiveData()  # noqa: N815


_DECODER = msgspec.json.Decoder(Snapshot)


def decode_snapshot(payload_json: bytes) -> Snapshot:
    """Decode a feed (raises :class:`msgspec.MsgspecError` if it does not fit the model)."""
    return _DECODER.decode(payload_json)


def _in(data: JSON, path: str) -> JSON:
    """The object at a dotted ``path`` of ``data`` ({} where it is missing)."""
    for key in path.split("."):
        value = data.get(key)
        data = value if isinstance(value, dict) else {}
    return data


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
_SIDES = ("home", "away")
_LISTS = ("battingOrder", "batters", "pitchers", "bench", "bullpen")


def _date(value: str | None) -> date | None:
    try:
        return None if value is None else date.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class SnapshotRows:
    """Every game-table row of one snapshot, by table name; ``source_ts`` its timestamp."""

    game_pk: int
    source_ts: str
    rows: dict[str, list[Row]]


def _unique(table: Table, rows: list[Row]) -> list[Row]:
    """The last row per key (one statement may not update a row twice)."""
    at = [table.columns.index(k) for k in table.key]
    return list({tuple(row[i] for i in at): row for row in rows}.values())


def _game_row(snap: Snapshot, game_date: date) -> Row:
    gd, line = snap.gameData, snap.liveData.linescore
    game, status, info, weather = gd.game, gd.status, gd.gameInfo, gd.weather
    home, away = line.teams.get("home", _Line()), line.teams.get("away", _Line())
    return (
        *(snap.gamePk, game_date, text(game, "season"), text(game, "type")),
        *(text(game, "doubleHeader"), integer(game, "gameNumber")),
        *(text(gd.datetime, "dayNight"), timestamp(text(gd.datetime, "dateTime"))),
        timestamp(text(info, "firstPitch")),
        *(integer(_in(gd.teams, "home"), "id"), integer(_in(gd.teams, "away"), "id")),
        integer(gd.venue, "id"),
        *(text(status, k) for k in ("abstractGameState", "detailedState", "codedGameState")),
        *(text(status, "statusCode"), line.currentInning, line.inningHalf),
        *(line.scheduledInnings, home.runs, home.hits, home.errors, away.runs, away.hits),
        *(away.errors, integer(info, "attendance"), integer(info, "gameDurationMinutes")),
        *(text(weather, "condition"), text(weather, "temp"), text(weather, "wind")),
        *(integer(gd.officialScorer, "id"), snap.metaData.timeStamp),
    )


def _venue_row(venue: JSON, ts: str) -> Row:
    loc, field = _in(venue, "location"), _in(venue, "fieldInfo")
    where = _in(loc, "defaultCoordinates")
    return (
        *(integer(venue, "id"), text(venue, "name"), text(loc, "city"), text(loc, "state")),
        *(text(loc, "country"), text(_in(venue, "timeZone"), "id")),
        *(integer(field, "capacity"), text(field, "turfType"), text(field, "roofType")),
        *(number(where, "latitude"), number(where, "longitude"), integer(loc, "elevation")),
        ts,
    )


def _team_row(team: JSON, ts: str) -> Row:
    return (
        *(integer(team, "id"), text(team, "name"), text(team, "abbreviation")),
        *(text(team, "teamName"), text(team, "locationName")),
        *(integer(_in(team, "league"), "id"), integer(_in(team, "division"), "id")),
        *(integer(_in(team, "venue"), "id"), ts),
    )


def _player_row(p: _Player, ts: str) -> Row:
    return (
        *(p.id, p.fullName, p.firstName, p.lastName, p.boxscoreName, p.primaryNumber),
        *(_date(p.birthDate), p.height, p.weight, p.batSide.code, p.pitchHand.code),
        *(p.primaryPosition.abbreviation, _date(p.mlbDebutDate), p.active, ts),
    )


def snapshot_rows(snap: Snapshot, game_date: date) -> SnapshotRows:
    """The rows of every game table for ``snap`` (pure)."""
    pk, ts, gd, ld = snap.gamePk, snap.metaData.timeStamp, snap.gameData, snap.liveData
    box = {side: ld.boxscore.teams.get(side, _BoxTeam()) for side in _SIDES}
    teams = [_in(gd.teams, side) for side in _SIDES]
    decided = ld.decisions
    rows: dict[str, list[Row]] = {
        GAMES.name: [_game_row(snap, game_date)],
        VENUES.name: [_venue_row(gd.venue, ts)] if integer(gd.venue, "id") else [],
        TEAMS.name: [_team_row(team, ts) for team in teams if integer(team, "id")],
        PLAYERS.name: [_player_row(p, ts) for p in gd.players.values()],
        LINESCORE_INNINGS.name: [
            (pk, inning.num, side, ln.runs, ln.hits, ln.errors, ln.leftOnBase, ts)
            for inning in ld.linescore.innings
            for side, ln in (("home", inning.home), ("away", inning.away))
        ],
        GAME_PLAYERS.name: [
            (
                *(pk, p.person.id, side, box[side].team.id, p.jerseyNumber),
                *(p.position.abbreviation, p.battingOrder, p.status.code),
                *(p.gameStatus.isSubstitute, ts),
            )
            for side in _SIDES
            for p in box[side].players.values()
            if p.person.id is not None
        ],
        GAME_ROSTER_LISTS.name: [
            (pk, side, name, person, ordinal, ts)
            for side in _SIDES
            for name in _LISTS
            for ordinal, person in enumerate(getattr(box[side], name), start=1)
        ],
        GAME_OFFICIALS.name: [
            (pk, o.officialType, o.official.id, o.official.fullName, ts)
            for o in ld.boxscore.officials
            if o.officialType is not None and o.official.id is not None
        ],
        GAME_DECISIONS.name: []
        if not decided
        else [(pk, *(decided.get(k, _Ref()).id for k in ("winner", "loser", "save")), ts)],
    }
    by_name = {t.name: t for t in GAME_TABLES}
    unique = {name: _unique(by_name[name], table_rows) for name, table_rows in rows.items()}
    return SnapshotRows(game_pk=pk, source_ts=ts, rows=unique)


_DELETE_OLDER = sql.SQL("DELETE FROM {} WHERE game_pk = %s AND source_ts < %s")


def write_snapshot(conn: Conn, rows: SnapshotRows) -> bool:
    """Write one snapshot's rows (module docstring); False if it was not newer."""
    table, pk, ts = GAMES, rows.game_pk, rows.source_ts
    try:
        with conn.cursor() as cur:
            upsert(cur, GAMES, rows.rows[GAMES.name], returning="game_pk")
            if cur.fetchone() is None:
                conn.commit()
                return False
            for table in SHARED_TABLES + PER_GAME_TABLES:
                if table_rows := rows.rows.get(table.name):
                    upsert(cur, table, table_rows)
                if table in PER_GAME_TABLES:
                    cur.execute(_DELETE_OLDER.format(sql.Identifier(table.name)), (pk, ts))
        conn.commit()
    except psycopg.Error as e:
        conn.rollback()
        raise postgres.PostgresError(f"{table.name}: snapshot {ts} of game {pk} failed: {e}") from e
    return True


def newest_per_game(items: Sequence[AcceptedSnapshot]) -> list[AcceptedSnapshot]:
    """The newest snapshot (by feed timestamp) of each game; those without one dropped."""
    newest: dict[int, AcceptedSnapshot] = {}
    for item in items:
        ts = item.envelope.feed_timestamp
        if ts is None:
            continue
        kept = newest.get(item.envelope.gamePk)
        if kept is None or ts > (kept.envelope.feed_timestamp or ""):
            newest[item.envelope.gamePk] = item
    return list(newest.values())


REFRESH_EVERY = timedelta(seconds=15)


class RefreshGate:
    """Which snapshots of a game are due to refresh its tables (see the module docstring).

    Remembers, per game, the feed timestamp and status last written. A new process (or a
    resumed worker) starts empty, so its first snapshot of each game is written.
    """

    def __init__(self, every: timedelta = REFRESH_EVERY) -> None:
        self._every = every
        self._last: dict[int, tuple[str, str]] = {}

    def due(self, game_pk: int, source_ts: str, status: str) -> bool:
        kept = self._last.get(game_pk)
        if kept is None or status != kept[1] or status.startswith("Final/"):
            return True
        return parse_feed_timestamp(source_ts) - parse_feed_timestamp(kept[0]) >= self._every

    def written(self, game_pk: int, source_ts: str, status: str) -> None:
        self._last[game_pk] = (source_ts, status)


def _status(snap: Snapshot) -> str:
    state = snap.gameData.status
    return f"{state.get('abstractGameState')}/{state.get('detailedState')}"


class _GamePartition(StatelessSinkPartition[AcceptedSnapshot]):
    def __init__(self, dsn: str, rejects: Rejects) -> None:
        self._session = postgres.Session(dsn, lambda d: connect(d, GAME_TABLES))
        self._gate = RefreshGate()
        self._reject = reject_snapshot(rejects)

    @_transient
    def write_batch(self, items: list[AcceptedSnapshot]) -> None:
        built: list[tuple[AcceptedSnapshot, SnapshotRows, str]] = []
        for item in newest_per_game(items):
            try:
                snap = decode_snapshot(item.payload_json)
                status = _status(snap)
                if self._gate.due(snap.gamePk, snap.metaData.timeStamp, status):
                    built.append((item, snapshot_rows(snap, item.game_date), status))
            except msgspec.MsgspecError as e:
                log.warning(
                    "game %d snapshot %s: not written to the game tables: %s",
                    item.envelope.gamePk,
                    item.envelope.feed_timestamp,
                    e,
                )

        def write(conn: Conn, todo: Sequence[tuple[AcceptedSnapshot, SnapshotRows, str]]) -> None:
            for _, rows, status in todo:
                write_snapshot(conn, rows)
                self._gate.written(rows.game_pk, rows.source_ts, status)

        def reject(entry: tuple[AcceptedSnapshot, SnapshotRows, str], error: Exception) -> None:
            self._reject(entry[0], error)

        if built:
            postgres.write_or_reject(self._session, built, write, reject)

    def close(self) -> None:
        self._session.close()


class GameTablesSink(DynamicSink[AcceptedSnapshot]):
    """The newest snapshot of each game of a batch into the game tables; one the database
    refuses for its data goes to ``rejects`` as a ``db_rejected`` dead letter."""

    def __init__(self, dsn: str, rejects: Rejects = raise_rejected) -> None:
        self._dsn = dsn
        self._rejects = rejects

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _GamePartition:
        return _GamePartition(self._dsn, self._rejects)
