"""Serving the API with uvicorn (``mlbsts api``): one process, one event loop.

Scale out by running more processes (compose replicas, the Kubernetes Deployment): they
share the rate limits and the response cache through Redis. uvicorn's access log prints
the client, the request line and the status, never request headers, and the API takes
keys only in a header, so no key can reach a log. The process has the telemetry set-up of
every process (``mlbsts.telemetry``: its log format, traces, ``mlbsts_up``), its own
request metrics on ``/metrics`` (``api.metrics``), and reports its health on
``mlb.system.health`` (``connectors.ops_topics``).
"""

from __future__ import annotations

import logging

import uvicorn

from api.app import create_app
from connectors.ops_topics import api_verdicts, start_ops_topics
from mlbsts.settings import Settings
from mlbsts.telemetry.setup import VERSION, setup_telemetry

__all__ = ["serve"]


def serve(settings: Settings, *, host: str, port: int, access_log: bool = True) -> None:
    """Serve until SIGINT/SIGTERM; open streams get 5 s to finish on shutdown."""
    setup_telemetry(settings, "api")
    for name in ("uvicorn.error", "uvicorn.access"):  # start-up lines and the access log
        logging.getLogger(name).setLevel(logging.INFO)
    start_ops_topics(settings, "api", api_verdicts(settings), version=VERSION)
    uvicorn.run(
        create_app(settings),
        log_config=None,  # uvicorn's loggers go through the process's own handler (JSON)
        host=host,
        port=port,
        access_log=access_log,
        timeout_graceful_shutdown=5,
        server_header=False,
        proxy_headers=False,
    )
