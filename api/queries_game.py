"""What the game routes read from PostgreSQL: the games of a date, a line score, a box
score and a pitcher's live figures, each with its data version (:mod:`api.http_cache`).

A version query returns one row ``(final, version)``, or none when the thing asked for
does not exist (a 404); it reads a game's ``games`` row by primary key, plus at most one
more primary-key read. The game tables of one snapshot are written in one transaction
with the ``games`` row (``connectors/pg_game_tables.py``), so ``games.source_ts``
versions the line score; the stats tables carry their own ``source_ts``.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from api.db import Params, fetch_all
from flows.game.status import FINAL

__all__ = ["boxscore", "games_of_date", "linescore", "pitcher"]

Row = dict[str, Any]

# The (final, version) of one game, with the version expression filled in.
GAME_VERSION = (
    "SELECT g.abstract_game_state IS NOT DISTINCT FROM %(final)s AS final, ({}) AS version "
    "FROM games AS g WHERE g.game_pk = %(game_pk)s"
)

DATE_VERSION = (
    "SELECT count(*) > 0 AND bool_and(abstract_game_state IS NOT DISTINCT FROM %(final)s) "
    "AS final, concat_ws(':', count(*), max(source_ts COLLATE \"C\")) AS version "
    "FROM games WHERE game_date = %(date)s"
)
LINESCORE_VERSION = GAME_VERSION.format("g.source_ts")
BOXSCORE_VERSION = GAME_VERSION.format(
    "SELECT b.source_ts FROM live_box_scores AS b WHERE b.game_pk = g.game_pk"
)
PITCHER_VERSION = GAME_VERSION.format(
    "SELECT s.source_ts FROM pitcher_live_stats AS s "
    "WHERE s.game_pk = g.game_pk AND s.pitcher_id = %(pitcher_id)s"
)


def version_params(**params: Any) -> Params:
    return {"final": FINAL, **params}


def _status(row: Row) -> Row:
    return {
        "abstract_game_state": row["abstract_game_state"],
        "detailed_state": row["detailed_state"],
        "coded_game_state": row.get("coded_game_state"),
    }


def _team(row: Row, side: str) -> Row:
    return {
        "team_id": row[f"{side}_team_id"],
        "name": row[f"{side}_name"],
        "abbreviation": row[f"{side}_abbreviation"],
        "runs": row[f"{side}_runs"],
        "hits": row[f"{side}_hits"],
        "errors": row[f"{side}_errors"],
    }


_GAMES = """
SELECT g.*, th.name AS home_name, th.abbreviation AS home_abbreviation,
       ta.name AS away_name, ta.abbreviation AS away_abbreviation
FROM games AS g
LEFT JOIN teams AS th ON th.team_id = g.home_team_id
LEFT JOIN teams AS ta ON ta.team_id = g.away_team_id
WHERE {}
ORDER BY g.start_time NULLS LAST, g.game_pk
"""


def game_summary(row: Row) -> Row:
    return {
        "game_pk": row["game_pk"],
        "game_date": row["game_date"],
        "game_number": row["game_number"],
        "double_header": row["double_header"],
        "start_time": row["start_time"],
        "status": _status(row),
        "current_inning": row["current_inning"],
        "inning_half": row["inning_half"],
        "scheduled_innings": row["scheduled_innings"],
        "venue_id": row["venue_id"],
        "home": _team(row, "home"),
        "away": _team(row, "away"),
        "source_ts": row["source_ts"],
    }


async def games_of_date(conn: AsyncConnection[Any], params: Params) -> Row:
    rows = await fetch_all(conn, _GAMES.format("g.game_date = %(date)s"), params)
    return {"date": params["date"], "games": [game_summary(r) for r in rows]}


def _totals(row: Row) -> Row:
    return {
        side: {k: row[f"{side}_{k}"] for k in ("runs", "hits", "errors")}
        for side in ("home", "away")
    }


async def linescore(conn: AsyncConnection[Any], params: Params) -> Row:
    game = (await fetch_all(conn, "SELECT * FROM games WHERE game_pk = %(game_pk)s", params))[0]
    rows = await fetch_all(
        conn,
        "SELECT inning, side, runs, hits, errors, left_on_base FROM linescore_innings "
        "WHERE game_pk = %(game_pk)s ORDER BY inning, side",
        params,
    )
    innings: dict[int, Row] = {}
    for r in rows:
        inning = innings.setdefault(r["inning"], {"num": r["inning"], "home": None, "away": None})
        inning[r["side"]] = {k: r[k] for k in ("runs", "hits", "errors", "left_on_base")}
    return {
        "game_pk": game["game_pk"],
        "status": _status(game),
        "current_inning": game["current_inning"],
        "inning_half": game["inning_half"],
        "innings": list(innings.values()),
        "totals": _totals(game),
        "source_ts": game["source_ts"],
    }


async def boxscore(conn: AsyncConnection[Any], params: Params) -> Row:
    rows = await fetch_all(
        conn, "SELECT * FROM live_box_scores WHERE game_pk = %(game_pk)s", params
    )
    row = rows[0]
    return {
        "game_pk": row["game_pk"],
        "status": _status(row),
        "totals": _totals(row),
        "box": row["box"],
        "source_ts": row["source_ts"],
    }


async def pitcher(conn: AsyncConnection[Any], params: Params) -> Row:
    rows = await fetch_all(
        conn,
        "SELECT s.*, p.full_name FROM pitcher_live_stats AS s "
        "LEFT JOIN players AS p ON p.player_id = s.pitcher_id "
        "WHERE s.game_pk = %(game_pk)s AND s.pitcher_id = %(pitcher_id)s",
        params,
    )
    return rows[0]
