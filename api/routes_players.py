"""``GET /v1/games/{game_pk}/players``: who plays a game: its teams and its people, with
their names. Scope ``history``.

The box score, the pitches, the plays and the line score name teams and people by id
only; a reader (the live page's header, box scores, pitcher picker) needs their names,
sides, positions and batting order. They come from ``games``, ``teams``, ``game_players``
and ``players``, written with the game's ``games`` row in one transaction
(``connectors/pg_game_tables.py``), so ``games.source_ts`` versions the answer, as it
does the line score.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from psycopg import AsyncConnection
from pydantic import BaseModel

from api.auth import require
from api.db import Params, fetch_all
from api.params import ERRORS, NOT_MODIFIED, GamePk
from api.queries_game import LINESCORE_VERSION, version_params
from api.responder import Resource, respond

__all__ = ["GamePlayers", "router"]

router = APIRouter(tags=["games"], responses={**ERRORS, **NOT_MODIFIED})


class GamePlayer(BaseModel):
    player_id: int
    side: str
    team_id: int | None
    full_name: str | None
    boxscore_name: str | None
    jersey_number: str | None
    position: str | None
    batting_order: str | None
    is_substitute: bool | None


class GameTeam(BaseModel):
    team_id: int | None
    name: str | None
    abbreviation: str | None


class GameTeams(BaseModel):
    home: GameTeam
    away: GameTeam


class GamePlayers(BaseModel):
    game_pk: int
    game_date: dt.date
    teams: GameTeams
    players: list[GamePlayer]
    source_ts: str


_PLAYERS = """
SELECT gp.player_id, gp.side, gp.team_id, p.full_name, p.boxscore_name, gp.jersey_number,
       gp.position, gp.batting_order, gp.is_substitute
FROM game_players AS gp LEFT JOIN players AS p ON p.player_id = gp.player_id
WHERE gp.game_pk = %(game_pk)s
ORDER BY gp.side, gp.batting_order NULLS LAST, gp.player_id
"""


_GAME = """
SELECT g.game_date, g.source_ts, g.home_team_id, th.name AS home_name,
       th.abbreviation AS home_abbreviation, g.away_team_id, ta.name AS away_name,
       ta.abbreviation AS away_abbreviation
FROM games AS g
LEFT JOIN teams AS th ON th.team_id = g.home_team_id
LEFT JOIN teams AS ta ON ta.team_id = g.away_team_id
WHERE g.game_pk = %(game_pk)s
"""


async def players(conn: AsyncConnection[Any], params: Params) -> dict[str, Any]:
    game = (await fetch_all(conn, _GAME, params))[0]
    teams = {
        side: {
            "team_id": game[f"{side}_team_id"],
            "name": game[f"{side}_name"],
            "abbreviation": game[f"{side}_abbreviation"],
        }
        for side in ("home", "away")
    }
    return {
        "game_pk": params["game_pk"],
        "game_date": game["game_date"],
        "teams": teams,
        "players": await fetch_all(conn, _PLAYERS, params),
        "source_ts": game["source_ts"],
    }


@router.get(
    "/games/{game_pk}/players",
    response_model=GamePlayers,
    dependencies=[Depends(require("history"))],
)
async def game_players(request: Request, game_pk: GamePk) -> Response:
    """The game's date and teams, and its players: side, team, names, jersey number,
    position, batting order."""
    resource = Resource(
        "players",
        version_params(game_pk=game_pk),
        LINESCORE_VERSION,
        players,
        f"game {game_pk} not found",
    )
    return await respond(request, resource)
