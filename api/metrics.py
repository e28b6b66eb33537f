"""The API's Prometheus metrics (``/metrics``) and the ASGI middleware that feeds them.

One registry per application (not the process-global one), so two apps in one process
(tests) do not collide; ``/metrics`` also shows the process's own telemetry
(``mlbsts.telemetry``: ``mlbsts_up{process="api"}``, the build, the ops topics' counter)
once ``mlbsts api`` has set it up. The middleware also adds the headers a dependency stashed in
``request.state.extra_headers`` (the rate-limit headers) to whatever answer goes out,
errors included. Requests are labelled by route template (``/v1/games/{game_pk}/plays``),
never by the raw path, and nothing of the request headers is recorded.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlbsts.telemetry.setup import current_telemetry

__all__ = ["ApiMetrics", "HeadersAndMetrics"]


class ApiMetrics:
    """Counters, histograms and gauges of one API application."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mlbsts_api_requests", "answered requests", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "mlbsts_api_request_seconds",
            "time to the start of the answer",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.cache = Counter("mlbsts_api_cache", "response cache lookups", ["result"], registry=r)
        self.rate_limited = Counter("mlbsts_api_rate_limited", "answers 429", registry=r)
        self.subscribers = Gauge("mlbsts_api_stream_subscribers", "open game streams", registry=r)
        self.hubs = Gauge("mlbsts_api_stream_games", "games with a stream poller", registry=r)
        self.stream_polls = Counter(
            "mlbsts_api_stream_polls", "PostgreSQL polls of the stream pollers", registry=r
        )
        self.stream_events = Counter(
            "mlbsts_api_stream_events", "events read by the stream pollers", registry=r
        )

    def exposition(self) -> bytes:
        telemetry = current_telemetry()
        own = telemetry.exposition() if telemetry is not None else b""
        return generate_latest(self.registry) + own


class HeadersAndMetrics:
    """ASGI middleware: stashed extra headers on every answer; request count and latency."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                state: dict[str, Any] = scope.get("state", {})
                extra: dict[str, str] = state.get("extra_headers", {})
                if extra:
                    message["headers"] = [
                        *message.get("headers", []),
                        *((k.lower().encode(), v.encode()) for k, v in extra.items()),
                    ]
                self.metrics.latency.labels(_route(scope)).observe(time.perf_counter() - began)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self.metrics.requests.labels(_route(scope), str(status)).inc()


def _route(scope: Scope) -> str:
    """The matched route's template with its router's prefix, e.g.
    ``/v1/games/{game_pk}/plays`` (``unmatched`` when no route matched)."""
    route = scope.get("route")
    template, regex = getattr(route, "path", None), getattr(route, "path_regex", None)
    if not isinstance(template, str):
        return "unmatched"
    path = str(scope.get("path", ""))
    for i, char in enumerate(path):  # the route's own part starts at one of the slashes
        if char == "/" and regex is not None and regex.match(path[i:]):
            return path[:i] + template
    return template
