"""Who may ask: the API key in ``X-API-Key`` (or a page session standing for it), its
scope, and its rate limit.

:func:`require` makes the dependency of a route: it answers 401 when the key is missing,
malformed, unknown, wrong or revoked; 403 when the key lacks the route's scope; 429 (with
``Retry-After``) when the key's bucket is empty. It runs before the route's parameters are
looked at. The rate-limit headers go on every answer to a known key, errors included
(through ``request.state.extra_headers``, see :mod:`api.metrics`). The key itself is
never logged or stored: only its id, in ``request.state.key_id``.

A browser page sends no header on its event stream, so a route also takes the page
session cookie (:mod:`api.page_session`), which stands for a key: the same checks follow,
with that key's record. The header wins when both are sent. :func:`key_holder` (the
dependency of ``POST /v1/session``) takes only the header: a session cannot renew itself.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader

from api.errors import forbidden, too_many_requests, unauthorized
from api.keys import KeyRecord, Scope, parse_key, verify
from api.page_session import SESSION_COOKIE, parse_token, valid
from api.ratelimit import headers_of
from api.resources import resources_of

__all__ = ["HEADER", "SESSION", "key_holder", "require"]

HEADER = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="An API key made by `mlbsts api-key create` (mlbsts_<id>_<secret>).",
    auto_error=False,
)
SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="PageSession",
    description="A page session (`POST /v1/session`): stands for the key that opened it.",
    auto_error=False,
)
MISSING = "missing API key: send it in the X-API-Key header"


async def _by_key(request: Request, api_key: str) -> KeyRecord:
    parsed = parse_key(api_key)
    if parsed is None:
        raise unauthorized("malformed API key (expected mlbsts_<id>_<secret>)")
    key_id, secret = parsed
    record = await resources_of(request).keys.get(key_id)
    if record is None or not verify(record, secret) or record.revoked:
        raise unauthorized("unknown, wrong or revoked API key")
    return record


async def _by_session(request: Request, cookie: str) -> KeyRecord:
    token = parse_token(cookie)
    if token is None:
        raise unauthorized("malformed page session: open a new one (POST /v1/session)")
    record = await resources_of(request).keys.get(token.key_id)
    if record is None or record.revoked or not valid(record, token, time.time()):
        raise unauthorized("expired, wrong or revoked page session: open a new one")
    return record


async def _admit(request: Request, record: KeyRecord, scope: Scope | None) -> KeyRecord:
    """The scope (if any) and the rate limit of a known key."""
    resources = resources_of(request)
    request.state.key_id = record.key_id
    if scope is not None and scope not in record.scopes:
        scopes = ", ".join(sorted(record.scopes))
        raise forbidden(f"this API key lacks the '{scope}' scope (it has: {scopes})")
    decision = await resources.limiter.take(record.key_id, record.rate_per_min)
    request.state.extra_headers = headers_of(decision)
    if not decision.allowed:
        resources.metrics.rate_limited.inc()
        raise too_many_requests(decision.retry_after_s, decision.limit)
    return record


def require(scope: Scope) -> Callable[..., Awaitable[KeyRecord]]:
    """The dependency of a route that needs ``scope``."""

    async def authorize(
        request: Request,
        api_key: Annotated[str | None, Security(HEADER)] = None,
        session: Annotated[str | None, Security(SESSION)] = None,
    ) -> KeyRecord:
        if api_key:
            record = await _by_key(request, api_key)
        elif session:
            record = await _by_session(request, session)
        else:
            raise unauthorized(f"{MISSING} (a browser page: POST /v1/session)")
        return await _admit(request, record, scope)

    return authorize


async def key_holder(
    request: Request, api_key: Annotated[str | None, Security(HEADER)] = None
) -> KeyRecord:
    """The dependency of a route that needs a valid key in the header, whatever its scopes."""
    if not api_key:
        raise unauthorized(MISSING)
    return await _admit(request, await _by_key(request, api_key), None)
