"""The API's errors: one JSON body for every answer that is not 2xx or 304.

Every error answer has the body of :class:`api.models.Problem`::

    {"status": 422, "error": "invalid_parameter", "message": "...", "details": [...]}

Exceptions (the tree of this boundary)::

    ApiError (Exception)     an answer with a status, a stable ``error`` code and a message
    └── UnavailableError     503: PostgreSQL or Redis is down, too slow or not initialized

A route raises them; :func:`install` turns them, FastAPI's validation errors and
Starlette's own HTTP errors (unknown path, wrong method) into that body. Anything else is
a bug: a 500 with the same body, logged with its traceback (never with request headers).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "UnavailableError", "forbidden", "install", "invalid", "not_found"]
__all__ += ["problem", "too_many_requests", "unauthorized"]

log = logging.getLogger(__name__)

_NO_STORE = {"Cache-Control": "no-store"}


class ApiError(Exception):
    """An answer other than 2xx/304."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        details: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.details = list(details)
        self.headers = headers or {}


class UnavailableError(ApiError):
    """503: a server the API depends on (``postgres`` or ``redis``) cannot answer."""

    def __init__(self, server: str, message: str) -> None:
        super().__init__(
            503,
            f"{server}_unavailable",
            f"{server} is unavailable: {message}; try again later",
            headers={"Retry-After": "5"},
        )
        self.server = server


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "ApiKey"})


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def invalid(parameter: str, message: str) -> ApiError:
    detail = {"loc": parameter, "message": message, "type": "value_error"}
    return ApiError(422, "invalid_parameter", f"{parameter}: {message}", details=[detail])


def too_many_requests(retry_after_s: int, limit_per_min: int) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"rate limit of {limit_per_min} requests per minute exceeded; retry in {retry_after_s} s",
        headers={"Retry-After": str(retry_after_s)},
    )


def problem(
    status: int,
    error: str,
    message: str,
    details: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"status": status, "error": error, "message": message, "details": list(details)}
    return JSONResponse(body, status_code=status, headers={**_NO_STORE, **(headers or {})})


def _validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's error list, reduced to JSON-safe ``loc``/``message``/``type``."""
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body",)]
        out.append({"loc": ".".join(loc), "message": str(e.get("msg", "")), "type": e.get("type")})
    return out


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    if isinstance(exc, UnavailableError):
        log.warning("%s %s: %s", request.method, request.url.path, exc.message)
    return problem(exc.status, exc.error, exc.message, exc.details, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc.errors())
    where = ", ".join(f"{d['loc']}: {d['message']}" for d in details)
    return problem(422, "invalid_parameter", f"invalid request ({where})", details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    error = codes.get(exc.status_code, "http_error")
    return problem(exc.status_code, error, str(exc.detail), headers=dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal_error", "internal error; it has been logged")


def install(app: FastAPI) -> None:
    """Every error answer of ``app`` gets the :class:`~api.models.Problem` body."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
