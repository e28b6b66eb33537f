"""The live page, served by the API: its HTML and assets (``api/static/``, no build step,
nothing from another host), and ``POST /v1/session``, which trades an API key for the
page's session cookie (why and how: :mod:`api.page_session`).

- ``GET /`` redirects to ``/live/``;
- ``GET /live/``: today's scoreboard (``?date=YYYY-MM-DD`` for another day);
- ``GET /live/game/{game_pk}``: a game: line score, box scores, play-by-play, strike-zone
  plot and a pitcher's velocity trend, following the game's event stream;
- ``GET /live/static/…``: the scripts and the style sheet.

The pages need no key to load: they hold no data. Their scripts read the key from the
URL's fragment (``#key=…``) once, open a session with it, and remove the fragment. The
pages are sent with a Content-Security-Policy that allows only this origin.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from api.auth import key_holder
from api.keys import SCOPES, KeyRecord
from api.page_session import SESSION_COOKIE, SESSION_S, issue
from api.params import ERRORS, GamePk

__all__ = ["STATIC", "install"]

STATIC = Path(__file__).parent / "static"
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

pages = APIRouter(include_in_schema=False)
sessions = APIRouter(tags=["session"])


class PageSession(BaseModel):
    """A page session just opened: it stands for the key until ``expires_at``."""

    key_id: str
    scopes: list[str]
    expires_at: dt.datetime
    max_age_s: int


@sessions.post(
    "/session",
    response_model=PageSession,
    responses={k: v for k, v in ERRORS.items() if k in (401, 429, 503)},
)
async def open_session(
    request: Request, record: Annotated[KeyRecord, Depends(key_holder)]
) -> JSONResponse:
    """Trade the API key sent in `X-API-Key` for a page session: a signed cookie
    (`HttpOnly`, `SameSite=Strict`, `Path=/v1`) that the API accepts in place of the
    header, with the key's scopes and rate limit, for an hour or until the key is revoked.
    For browsers, whose EventSource cannot send headers."""
    token, expires = issue(record, time.time())
    body = PageSession(
        key_id=record.key_id,
        scopes=[s for s in SCOPES if s in record.scopes],
        expires_at=dt.datetime.fromtimestamp(expires, dt.UTC),
        max_age_s=SESSION_S,
    )
    answer = JSONResponse(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
    answer.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_S,
        path="/v1",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return answer


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html", headers=PAGE_HEADERS)


@pages.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/live/")


@pages.get("/live/")
async def scoreboard() -> FileResponse:
    return _page("index.html")


@pages.get("/live/game/{game_pk}")
async def game_page(game_pk: GamePk) -> FileResponse:
    return _page("game.html")


def install(app: FastAPI) -> None:
    """Mount the pages, their assets and ``/v1/session`` on ``app``."""
    app.include_router(sessions, prefix="/v1")
    app.include_router(pages)
    app.mount("/live/static", StaticFiles(directory=STATIC), name="live-static")
