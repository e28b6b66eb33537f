"""Cached JSON answers: version, ETag, 304, the Redis response cache, Cache-Control.

For a :class:`Resource` (a route's data with its version query), :func:`respond`:

1. reads the data version (one indexed query; no row: 404);
2. answers 304 when ``If-None-Match`` names the ETag of that version;
3. else serves the body cached under that ETag, in this process (a bounded LRU) or in
   Redis (shared by every API process) (``X-Cache: hit``);
4. else reads the version again and the data in one read-only snapshot, so the body is
   exactly the data of the version it is cached under, and caches it (``X-Cache: miss``).

Rules (ETag, Cache-Control, invalidation by versioned keys): :mod:`api.http_cache`.
Server-side staleness is nil: every request checks the version in PostgreSQL, so a body
is served only while the committed data it was made from is still the newest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request, Response
from psycopg import AsyncConnection

from api.db import Params, Query, fetch_all
from api.errors import not_found
from api.http_cache import cache_control, etag_of, matches, store_ttl_s
from api.resources import Resources, resources_of

__all__ = ["Resource", "respond"]

Build = Callable[[AsyncConnection[Any], Params], Awaitable[Any]]


@dataclass(frozen=True)
class Resource:
    """One answer to make: ``version`` returns a row ``(final, version)`` or none (404)."""

    route: str
    params: Params
    version: Query
    build: Build
    missing: str  # the 404 message


def _headers(resources: Resources, etag: str, final: bool) -> dict[str, str]:
    s = resources.settings
    return {
        "ETag": etag,
        "Cache-Control": cache_control(final, s.api_live_max_age_s, s.api_final_max_age_s),
    }


def _etag(resource: Resource, row: dict[str, Any] | None) -> tuple[str, bool]:
    if row is None or row["version"] is None:
        raise not_found(resource.missing)
    keys: Sequence[object] = [resource.params[k] for k in sorted(resource.params)]
    return etag_of(resource.route, keys, str(row["version"])), bool(row["final"])


async def _cached(resources: Resources, etag: str) -> bytes | None:
    """The body cached under ``etag``: in this process, else in Redis (then kept here)."""
    body = resources.bodies.get(etag)
    if body is None:
        async with resources.redis.bounded() as redis:
            body = await redis.get(resources.redis.key("cache", etag.strip('"')))
        if body is not None:
            resources.bodies[etag] = body
    return body


async def _fresh(resources: Resources, resource: Resource) -> tuple[bytes, str, bool]:
    """The body made from one snapshot, its ETag and state; cached in Redis and here."""
    async with resources.db.snapshot() as conn:
        rows = await fetch_all(conn, resource.version, resource.params)
        etag, final = _etag(resource, rows[0] if rows else None)
        body = orjson.dumps(await resource.build(conn, resource.params))
    s = resources.settings
    async with resources.redis.bounded() as redis:
        await redis.set(
            resources.redis.key("cache", etag.strip('"')),
            body,
            ex=store_ttl_s(final, s.api_live_max_age_s, s.api_final_max_age_s),
        )
    resources.bodies[etag] = body
    return body, etag, final


async def respond(request: Request, resource: Resource) -> Response:
    resources = resources_of(request)
    etag, final = _etag(resource, await resources.db.row(resource.version, resource.params))
    headers = _headers(resources, etag, final)
    if matches(request.headers.get("if-none-match"), etag):
        resources.metrics.cache.labels("not_modified").inc()
        return Response(status_code=304, headers=headers)
    body = await _cached(resources, etag)
    if body is not None:
        resources.metrics.cache.labels("hit").inc()
        return Response(body, media_type="application/json", headers={**headers, "X-Cache": "hit"})
    body, etag, final = await _fresh(resources, resource)
    resources.metrics.cache.labels("miss").inc()
    headers = _headers(resources, etag, final)
    return Response(body, media_type="application/json", headers={**headers, "X-Cache": "miss"})
