"""``/healthz`` (the process answers), ``/readyz`` (PostgreSQL, its ``api_keys`` table and
Redis answer) and ``/metrics`` (Prometheus). No API key: these are for the orchestrator
(compose healthcheck, Kubernetes probes) and the metrics scraper."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from api.errors import UnavailableError
from api.resources import resources_of

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests (liveness)."""
    return {"status": "ok"}


async def _check(probe: Any) -> str:
    try:
        await probe()
    except UnavailableError as e:
        return e.message
    return "ok"


@router.get("/readyz", responses={503: {"description": "a server is unavailable"}})
async def readyz(request: Request) -> JSONResponse:
    """200 when PostgreSQL (with the API's tables) and Redis answer, else 503 naming which."""
    resources = resources_of(request)
    postgres, redis = await asyncio.gather(_check(resources.db.ping), _check(resources.redis.ping))
    ready = postgres == "ok" and redis == "ok"
    body = {"status": "ready" if ready else "unavailable", "postgres": postgres, "redis": redis}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this process' counters."""
    return Response(resources_of(request).metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
