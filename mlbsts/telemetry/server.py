"""The health and metrics server of a process: ``/metrics``, ``/livez``, ``/readyz``.

A small threaded HTTP server on its own daemon thread, so it answers while the process's
main work is blocked (that is when liveness matters). ``/metrics`` is the Prometheus text
of the process's registry; ``/livez`` and ``/readyz`` answer a JSON verdict
(``mlbsts.telemetry.health.Verdict``), 200 when ok and 503 when not. Requests are not
logged (probes come every few seconds).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from mlbsts.telemetry.health import Verdict

__all__ = ["HealthServer", "Probe"]

log = logging.getLogger(__name__)

Probe = Callable[[], Verdict]


def _always_ok() -> Verdict:
    return Verdict(True, "no check")


class HealthServer:
    """Serves the routes above on ``host:port`` (port 0: any free one, see ``port``)."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        *,
        liveness: Probe = _always_ok,
        readiness: Probe = _always_ok,
    ) -> None:
        self.registry = registry
        self.liveness = liveness
        self.readiness = readiness
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._answer(200, generate_latest(owner.registry), CONTENT_TYPE_LATEST)
                elif path in ("/livez", "/readyz"):
                    probe = owner.liveness if path == "/livez" else owner.readiness
                    try:
                        verdict = probe()
                    except Exception as e:  # a broken probe is a failing one
                        log.exception("%s probe failed", path)
                        verdict = Verdict(False, f"probe failed: {type(e).__name__}")
                    body = json.dumps(verdict.as_json(), default=str).encode()
                    self._answer(200 if verdict.ok else 503, body, "application/json")
                else:
                    self._answer(404, b"not found\n", "text/plain")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler
