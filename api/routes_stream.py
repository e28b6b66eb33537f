"""``GET /v1/games/{game_pk}/stream``: the game's events as server-sent events, as they
are committed, resumable with ``Last-Event-ID`` (how: :mod:`api.stream`). Scope ``stream``.

Each event: ``event:`` its kind (``pitch``, ``play``, ``runner``, ``action``, ``review``,
``status``), ``id:`` ``<source_ts>/<event_id>``, ``data:`` the row of its table as JSON
(with ``kind``; ``retracted`` true for a retraction). The last one, once the game is
Final, is ``event: end``. Everything that can be refused (key, game, ``Last-Event-ID``)
is checked before the stream starts, so a refusal is a plain 4xx with a JSON body.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from api.auth import require
from api.cursor import STREAM_ID_PATTERN, StreamKey, parse_last_event_id
from api.errors import invalid, not_found
from api.params import JSON_ERRORS, GamePk
from api.resources import resources_of
from api.stream import game_events

__all__ = ["router"]

router = APIRouter(tags=["stream"], responses=JSON_ERRORS)

# One event of the stream (OpenAPI 3.1: the schema of an event stream describes an event).
_EVENT_SCHEMA = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"enum": ["pitch", "play", "runner", "action", "review", "status", "end"]},
        "id": {"type": "string", "pattern": STREAM_ID_PATTERN},
        "retry": {"type": "integer"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "type": "object",
                "required": ["game_pk"],
                "properties": {
                    "game_pk": {"type": "integer"},
                    "kind": {"type": "string"},
                    "event_id": {"type": "string"},
                    "source_ts": {"type": "string"},
                    "revision": {"type": "integer"},
                    "retracted": {"type": "boolean"},
                    "reason": {"const": "final"},
                },
            },
        },
    },
}
_EVENTS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "server-sent events until the game is Final: `event` the kind, `id` "
        "<source_ts>/<event_id>, `data` the row as JSON; last `event: end`",
        "content": {"text/event-stream": {"schema": _EVENT_SCHEMA}},
    }
}


class EventStream(StreamingResponse):
    """A plain streaming answer of SSE frames (why not FastAPI's own: api/stream.py)."""

    media_type = "text/event-stream"


_EXISTS = (
    "SELECT 1 AS found FROM games WHERE game_pk = %(game_pk)s "
    "UNION ALL SELECT 1 FROM game_status WHERE game_pk = %(game_pk)s LIMIT 1"
)


async def _known_game(request: Request, game_pk: GamePk) -> int:
    if await resources_of(request).db.row(_EXISTS, {"game_pk": game_pk}) is None:
        raise not_found(f"game {game_pk} not found")
    return game_pk


def _resume_point(
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=200,
            pattern=STREAM_ID_PATTERN,
            description="resume after this event (`id` of the last event received)",
        ),
    ] = None,
    after: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=STREAM_ID_PATTERN,
            description="same as Last-Event-ID, for clients that cannot set headers",
        ),
    ] = None,
) -> StreamKey | None:
    for name, value in (("Last-Event-ID", last_event_id), ("after", after)):
        if value:
            try:
                return parse_last_event_id(value)
            except ValueError as e:
                raise invalid(name, str(e)) from e
    return None


@router.get(
    "/games/{game_pk}/stream",
    response_class=EventStream,
    responses=_EVENTS,
    dependencies=[Depends(require("stream"))],
)
async def game_stream(
    request: Request,
    game_pk: Annotated[int, Depends(_known_game)],
    resume: Annotated[StreamKey | None, Depends(_resume_point)],
) -> EventStream:
    """Server-sent events of the game's committed events; ``end`` once it is Final."""
    return EventStream(
        game_events(resources_of(request).hubs, game_pk, resume),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
