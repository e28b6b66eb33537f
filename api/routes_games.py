"""Routes about games: the games of a date, a game's live state (Redis), line score, box
score, and a pitcher's live figures. Scopes: ``history`` for what PostgreSQL keeps,
``live`` for the live state and the pitchers' live figures (:mod:`api.keys`)."""

from __future__ import annotations

import hashlib
from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Query, Request, Response

from api.auth import require
from api.db import Query as VersionQuery
from api.errors import UnavailableError, not_found
from api.http_cache import cache_control, matches
from api.models import BoxScore, GamesOfDate, LineScore, LiveState, PitcherFigures
from api.params import ERRORS, NOT_MODIFIED, GamePk, IsoDate, PlayerId
from api.queries_game import (
    BOXSCORE_VERSION,
    DATE_VERSION,
    LINESCORE_VERSION,
    PITCHER_VERSION,
    boxscore,
    games_of_date,
    linescore,
    pitcher,
    version_params,
)
from api.resources import resources_of
from api.responder import Build, Resource, respond
from connectors.redis_state import game_key
from flows.game.status import is_final

__all__ = ["router"]

router = APIRouter(tags=["games"], responses={**ERRORS, **NOT_MODIFIED})
HISTORY = [Depends(require("history"))]
LIVE = [Depends(require("live"))]

GameDate = Annotated[
    IsoDate,
    Query(
        alias="date",
        description="the games' official date (YYYY-MM-DD)",
        examples=["2024-07-01"],
    ),
]


@router.get("/games", response_model=GamesOfDate, dependencies=HISTORY)
async def games(request: Request, day: GameDate) -> Response:
    """The games of a date, with their status and score (empty when none is known)."""
    resource = Resource(
        "games", version_params(date=day), DATE_VERSION, games_of_date, f"no games on {day}"
    )
    return await respond(request, resource)


async def _of_game(
    request: Request, game_pk: int, route: str, version: VersionQuery, build: Build, missing: str
) -> Response:
    """The answer of one of a game's resources, keyed and versioned by the game."""
    return await respond(
        request, Resource(route, version_params(game_pk=game_pk), version, build, missing)
    )


@router.get("/games/{game_pk}/linescore", response_model=LineScore, dependencies=HISTORY)
async def game_linescore(request: Request, game_pk: GamePk) -> Response:
    """Runs, hits, errors and left on base per inning and team, and the totals."""
    missing = f"game {game_pk} not found"
    return await _of_game(request, game_pk, "linescore", LINESCORE_VERSION, linescore, missing)


@router.get("/games/{game_pk}/boxscore", response_model=BoxScore, dependencies=HISTORY)
async def game_boxscore(request: Request, game_pk: GamePk) -> Response:
    """The running box score (the `mlbsts boxscore` JSON), as of the newest snapshot."""
    missing = f"game {game_pk} not found, or no box score for it yet"
    return await _of_game(request, game_pk, "boxscore", BOXSCORE_VERSION, boxscore, missing)


@router.get(
    "/games/{game_pk}/pitchers/{pitcher_id}", response_model=PitcherFigures, dependencies=LIVE
)
async def game_pitcher(request: Request, game_pk: GamePk, pitcher_id: PlayerId) -> Response:
    """A pitcher's live figures in a game: pitch count, rolling velocity, fatigue signal."""
    resource = Resource(
        "pitcher",
        version_params(game_pk=game_pk, pitcher_id=pitcher_id),
        PITCHER_VERSION,
        pitcher,
        f"no live figures of pitcher {pitcher_id} in game {game_pk}",
    )
    return await respond(request, resource)


class _LiveHead(msgspec.Struct):
    gamePk: int  # noqa: N815 - the stored document's names
    source_ts: str
    abstractGameState: str | None = None  # noqa: N815


@router.get("/games/{game_pk}/live", response_model=LiveState, dependencies=LIVE)
async def game_live(request: Request, game_pk: GamePk) -> Response:
    """The game's current live state, as the dataflow keeps it in Redis."""
    resources = resources_of(request)
    async with resources.redis.bounded() as redis:
        body: bytes | None = await redis.get(game_key(game_pk))
    if body is None:
        raise not_found(f"no live state of game {game_pk} (not started, or expired after Final)")
    try:
        head = msgspec.json.decode(body, type=_LiveHead)
    except msgspec.DecodeError as e:
        unreadable = f"the live state of game {game_pk} is unreadable"
        raise UnavailableError("redis", unreadable) from e
    s = resources.settings
    headers = {
        "ETag": '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"',
        "Cache-Control": cache_control(
            is_final(head.abstractGameState), s.api_live_max_age_s, s.api_final_max_age_s
        ),
    }
    if matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
