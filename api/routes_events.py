"""Routes about events: a game's plays and pitches (keyset pages, filters) and the
league-wide windows of a time range. Scope ``history``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.auth import require
from api.cursor import decode_page
from api.errors import invalid
from api.models import Pitches, Plays, Windows
from api.params import ERRORS, MAX_ID, NOT_MODIFIED, GamePk, IsoInstant, Limit, PageCursor
from api.queries_events import (
    PITCHES_VERSION,
    PLAYS_VERSION,
    WINDOWS_VERSION,
    pitches,
    plays,
    windows,
)
from api.queries_game import version_params
from api.responder import Resource, respond

__all__ = ["MAX_WINDOW_RANGE", "router"]

router = APIRouter(responses={**ERRORS, **NOT_MODIFIED})
HISTORY = [Depends(require("history"))]
MAX_WINDOW_RANGE = dt.timedelta(days=7)

PersonFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="only this person")]


def _page(kind: str, cursor: str | None, parts: int) -> tuple[int, ...]:
    if cursor is None:
        return (-1,) * parts
    try:
        return decode_page(kind, cursor, parts)
    except ValueError as e:
        raise invalid("cursor", str(e)) from e


@router.get("/games/{game_pk}/plays", response_model=Plays, dependencies=HISTORY, tags=["events"])
async def game_plays(
    request: Request,
    game_pk: GamePk,
    cursor: PageCursor = None,
    limit: int = Limit(100, 500),
) -> Response:
    """The game's completed plays in order (retracted ones left out), a page at a time."""
    (after,) = _page("plays", cursor, 1)
    params = version_params(game_pk=game_pk, after=after, limit=limit)
    resource = Resource("plays", params, PLAYS_VERSION, plays, f"game {game_pk} not found")
    return await respond(request, resource)


@router.get(
    "/games/{game_pk}/pitches", response_model=Pitches, dependencies=HISTORY, tags=["events"]
)
async def game_pitches(
    request: Request,
    game_pk: GamePk,
    pitcher: PersonFilter = None,
    batter: PersonFilter = None,
    inning: Annotated[int | None, Query(ge=1, le=99, description="only this inning")] = None,
    cursor: PageCursor = None,
    limit: int = Limit(200, 1000),
) -> Response:
    """The game's pitches and pitch-like events in order, filtered, a page at a time."""
    after_ab, after_pe = _page("pitches", cursor, 2)
    params = version_params(
        game_pk=game_pk,
        pitcher=pitcher,
        batter=batter,
        inning=inning,
        after_ab=after_ab,
        after_pe=after_pe,
        limit=limit,
    )
    resource = Resource("pitches", params, PITCHES_VERSION, pitches, f"game {game_pk} not found")
    return await respond(request, resource)


Instant = Annotated[
    IsoInstant,
    Query(description="ISO 8601 with a UTC offset", examples=["2024-07-01T19:00:00Z"]),
]


@router.get("/windows", response_model=Windows, dependencies=HISTORY, tags=["league"])
async def league_windows(request: Request, start: Instant, end: Instant) -> Response:
    """League-wide 5-minute event-time windows starting in ``[start, end)`` (7 days at most)."""
    for name, value in (("start", start), ("end", end)):
        if not 1900 <= value.year <= 9000:
            raise invalid(name, "must be between the years 1900 and 9000")
    if not dt.timedelta(0) < end - start <= MAX_WINDOW_RANGE:
        raise invalid("end", "must be after start, by at most 7 days")
    params = {"start": start, "end": end}
    resource = Resource("windows", params, WINDOWS_VERSION, windows, "no windows")
    return await respond(request, resource)
