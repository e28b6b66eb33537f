"""The API application: routes under ``/v1``, the published OpenAPI schema at
``/v1/openapi.json``, error bodies, headers and metrics, and the live page
(:mod:`api.routes_page`); built from the settings.

:func:`create_app` connects to nothing; the servers are opened when the application
starts (lifespan) and closed when it stops. The resources are ``app.state.resources``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api import (
    errors,
    health,
    routes_events,
    routes_games,
    routes_page,
    routes_players,
    routes_stream,
)
from api.metrics import HeadersAndMetrics
from api.resources import Resources
from mlbsts.settings import Settings

__all__ = ["OPENAPI_PATH", "create_app"]

OPENAPI_PATH = "/v1/openapi.json"

DESCRIPTION = """
Live and historical MLB data from MLB-STS: games, line and box scores, plays, pitches,
pitchers' live figures, league windows, and each game's events as server-sent events.

Every `/v1` route needs an API key in the `X-API-Key` header (`mlbsts api-key create`),
with the route's scope: `live`, `history` or `stream`. A browser page, whose EventSource
cannot send headers, trades its key for a session cookie with `POST /v1/session`. Each
key has a rate limit (`X-RateLimit-*` headers; 429 with `Retry-After`). Answers carry an
`ETag` (send it back in `If-None-Match` for a 304) and a `Cache-Control` that depends on
the game's state.
Errors have one JSON body: `{"status", "error", "message", "details"}`.
"""


def create_app(settings: Settings) -> FastAPI:
    resources = Resources(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await resources.open()
        try:
            yield
        finally:
            await resources.close()

    app = FastAPI(
        title="MLB-STS API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_url=OPENAPI_PATH,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.resources = resources
    errors.install(app)
    app.add_middleware(HeadersAndMetrics, metrics=resources.metrics)
    app.include_router(health.router)
    for router in (
        routes_games.router,
        routes_players.router,
        routes_events.router,
        routes_stream.router,
    ):
        app.include_router(router, prefix="/v1")
    routes_page.install(app)  # the live page and POST /v1/session
    app.openapi = lambda: _published(app)  # type: ignore[method-assign]
    return app


def _published(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with optional parameters described as HTTP has them: absent or a
    string, never ``null`` (FastAPI writes ``anyOf: [..., {"type": "null"}]`` for them)."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for parameter in operation.get("parameters", []):
                    parameter["schema"] = _not_null(parameter["schema"])
        app.openapi_schema = schema
    return app.openapi_schema


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = [b for b in schema.get("anyOf", []) if b != {"type": "null"}]
    if len(branches) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**branches[0], **rest}
