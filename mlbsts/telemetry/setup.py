"""The telemetry of a process, set up in one place: logs, metrics, traces, health.

``setup_telemetry(settings, process)`` is called once by each process (the worker in
``flows.live_stats.production_flow``, the poller in ``mlbsts ingest``, the API in
``mlbsts api``):

- logging: ``mlbsts.telemetry.logs`` (JSON or text, secrets redacted);
- metrics: an OpenTelemetry meter provider whose Prometheus reader registers into a
  ``prometheus_client`` registry (the process-wide one by default, which Bytewax's own
  ``/metrics`` on port 3030 also serves), plus an OTLP/HTTP exporter when
  ``MLBSTS_OTLP_ENDPOINT`` is set; ``mlbsts_up`` and ``mlbsts_build_info`` are set;
- traces: a tracer provider, exporting over OTLP/HTTP when the endpoint is set (ids travel
  and are logged either way, ``mlbsts.telemetry.tracing``);
- ``Telemetry.serve``: the process's ``/metrics``, ``/livez``, ``/readyz``
  (``mlbsts.telemetry.server``); a port already taken is logged and skipped, so a second
  worker on one machine still runs. ``Telemetry.verdicts`` asks the same probes (the
  health reports on ``mlb.system.health``, ``connectors.ops_topics``).

What is recorded is in ``mlbsts.telemetry.catalogue`` (and docs/operating.md); it is
recorded through ``mlbsts.telemetry.metrics.RECORDER``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import metadata

from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from mlbsts.settings import Settings
from mlbsts.telemetry.catalogue import BUILD_INFO, UP
from mlbsts.telemetry.health import Verdict
from mlbsts.telemetry.logs import Redactor, installed_level, secrets_of, setup_logging
from mlbsts.telemetry.metrics import RECORDER
from mlbsts.telemetry.server import HealthServer, Probe

__all__ = ["VERSION", "Telemetry", "current_telemetry", "otlp_headers", "setup_telemetry"]

log = logging.getLogger(__name__)

OTLP_TIMEOUT_S = 5.0
OTLP_EXPORT_EVERY_MS = 15_000


def _version() -> str:
    try:
        return metadata.version("mlbsts")
    except metadata.PackageNotFoundError:
        return "unknown"


VERSION = _version()


@dataclass
class Telemetry:
    """What ``setup_telemetry`` set up for this process."""

    process: str
    registry: CollectorRegistry
    meter_provider: MeterProvider
    tracer_provider: TracerProvider
    redact: Redactor
    server: HealthServer | None = None
    liveness: Probe | None = None
    readiness: Probe | None = None

    def verdicts(self) -> tuple[Verdict, Verdict]:
        """(liveness, readiness) now, from the probes given to ``serve`` ("no check"
        before); a probe that raises is a failing one."""
        return _ask(self.liveness), _ask(self.readiness)

    def serve(self, host: str, port: int, *, liveness: Probe, readiness: Probe) -> int | None:
        """Start ``/metrics``, ``/livez``, ``/readyz`` on ``host:port``; the port bound, or
        ``None`` (port 0 in the settings means none; a taken port is logged)."""
        self.liveness, self.readiness = liveness, readiness
        if self.server is not None:
            self.server.liveness, self.server.readiness = liveness, readiness
            return self.server.port
        try:
            server = HealthServer(host, port, self.registry, liveness=liveness, readiness=readiness)
        except OSError as e:
            log.warning(
                "%s: no health and metrics server on %s:%d: %s", self.process, host, port, e
            )
            return None
        self.server = server.start()
        log.info("%s: /metrics, /livez, /readyz on %s:%d", self.process, host, server.port)
        return server.port

    def exposition(self) -> bytes:
        """The Prometheus text of this process's registry (for a server of its own)."""
        return generate_latest(self.registry)


def _ask(probe: Probe | None) -> Verdict:
    if probe is None:
        return Verdict(True, "no check")
    try:
        return probe()
    except Exception as e:  # a broken probe is a failing one
        log.exception("health probe failed")
        return Verdict(False, f"probe failed: {type(e).__name__}")


_CURRENT: Telemetry | None = None


def current_telemetry() -> Telemetry | None:
    """This process's set-up, or ``None`` before ``setup_telemetry`` (tests, tools)."""
    return _CURRENT


def otlp_headers(settings: Settings) -> dict[str, str]:
    """``MLBSTS_OTLP_HEADERS`` (``k=v,k=v``) as a mapping."""
    if settings.otlp_headers is None:
        return {}
    pairs = (p.partition("=") for p in settings.otlp_headers.get_secret_value().split(","))
    return {k.strip(): v.strip() for k, _, v in pairs if k.strip()}


def setup_telemetry(
    settings: Settings,
    process: str,
    *,
    level: str | int | None = None,
    registry: CollectorRegistry | None = None,
) -> Telemetry:
    """Logs, metrics and traces of this process (module docstring); once per process, a
    second call returns the first set-up. ``level``: the log level (default: the one set
    by the command line, else ``MLBSTS_LOG_LEVEL``)."""
    global _CURRENT  # noqa: PLW0603 - one set-up per process, by design
    if _CURRENT is not None:
        return _CURRENT
    secrets = secrets_of(settings)
    chosen = level if level is not None else (installed_level() or settings.log_level)
    setup_logging(process, level=chosen, fmt=settings.log_format, secrets=secrets)
    resource = Resource.create(
        {
            "service.name": f"mlbsts-{process}",
            "service.namespace": "mlbsts",
            "service.version": VERSION,
        }
    )
    registry = registry if registry is not None else REGISTRY
    readers: list[MetricReader] = [
        PrometheusMetricReader(
            disable_target_info=True, scope_info_enabled=False, registry=registry
        )
    ]
    tracer_provider = TracerProvider(resource=resource)
    if settings.otlp_endpoint:
        readers.append(_otlp_metrics(settings))
        tracer_provider.add_span_processor(BatchSpanProcessor(_otlp_spans(settings)))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    metrics.set_meter_provider(meter_provider)
    trace.set_tracer_provider(tracer_provider)
    RECORDER.set(UP, 1, process=process)
    RECORDER.set(BUILD_INFO, 1, version=VERSION)
    _CURRENT = Telemetry(process, registry, meter_provider, tracer_provider, Redactor(secrets))
    return _CURRENT


def _endpoint(settings: Settings, path: str) -> str:
    return f"{(settings.otlp_endpoint or '').rstrip('/')}/{path}"


def _otlp_metrics(settings: Settings) -> MetricReader:
    # loaded only with an endpoint: the OTLP exporters weigh ~0.15 s of imports
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
        OTLPMetricExporter,
    )

    exporter = OTLPMetricExporter(
        endpoint=_endpoint(settings, "v1/metrics"),
        headers=otlp_headers(settings),
        timeout=OTLP_TIMEOUT_S,
    )
    return PeriodicExportingMetricReader(exporter, export_interval_millis=OTLP_EXPORT_EVERY_MS)


def _otlp_spans(settings: Settings) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    return OTLPSpanExporter(
        endpoint=_endpoint(settings, "v1/traces"),
        headers=otlp_headers(settings),
        timeout=OTLP_TIMEOUT_S,
    )
