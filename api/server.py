"""Serving the API with uvicorn (``mlbsts api``): one process, one event loop.

Scale out by running more processes (compose replicas, the Kubernetes Deployment): they
share the rate limits and the response cache through Redis. uvicorn's access log prints
the client, the request line and the status, never request headers, and the API takes
keys only in a header, so no key can reach a log. The process reports its health on
``mlb.system.health`` (``connectors.ops_topics``).
"""

from __future__ import annotations

import uvicorn

from api.app import create_app
from connectors.ops_topics import api_verdicts, start_ops_topics
from mlbsts.settings import Settings
from mlbsts.telemetry.setup import VERSION

__all__ = ["serve"]


def serve(settings: Settings, *, host: str, port: int, access_log: bool = True) -> None:
    """Serve until SIGINT/SIGTERM; open streams get 5 s to finish on shutdown."""
    start_ops_topics(settings, "api", api_verdicts(settings), version=VERSION)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        access_log=access_log,
        timeout_graceful_shutdown=5,
        server_header=False,
        proxy_headers=False,
    )
