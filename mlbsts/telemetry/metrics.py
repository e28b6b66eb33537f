"""Recording the catalogue's metrics (``mlbsts.telemetry.catalogue``) through OpenTelemetry.

``RECORDER`` records through the global meter provider. Until a process calls
``mlbsts.telemetry.setup_telemetry`` that provider is the API's proxy and every call costs
next to nothing and goes nowhere (tests, tools); afterwards the same instruments feed the
process's exporters. Instruments are made on first use, so importing this module sets up
nothing. Recording never raises into the data path.

Gauges come in two forms: ``set`` a value (the lag, a breaker, a tick), or ``observe`` a
probe, a function read at each collection (queues, state held, progress), so a value that
changes at every item costs nothing until someone looks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from flows.game.envelope import parse_feed_timestamp
from mlbsts.telemetry.catalogue import DATA_AGE, MetricSpec

__all__ = ["RECORDER", "SINK", "Recorder", "record_age"]

#: the sink the current thread writes for (set by a sink's writer; labels its retries)
SINK: ContextVar[str] = ContextVar("mlbsts_sink", default="unknown")

Labels = tuple[tuple[str, str], ...]
#: how each kind of metric is recorded: ``add``, ``record``, ``set`` or ``observe``
_FORMS = {"counter": "counter", "histogram": "histogram", "gauge": "gauge", "observed": "gauge"}
Probe = Callable[[], float]


def _labels(spec: MetricSpec, given: dict[str, object]) -> dict[str, str]:
    unknown = set(given) - set(spec.labels)
    if unknown:
        raise ValueError(f"{spec.name} has no label {sorted(unknown)}")
    return {k: str(v) for k, v in given.items()}


class Recorder:
    """The instruments of one meter, made on first use; thread safe."""

    def __init__(self, meter: Meter | None = None) -> None:
        self._meter = meter
        self._lock = threading.Lock()
        self._instruments: dict[str, tuple[str, Any]] = {}
        self._probes: dict[str, dict[Labels, Probe]] = {}

    def use(self, meter: Meter | None) -> None:
        """Record through ``meter`` from now on (``None``: the global provider's); tests
        read the process's recorder back through a private provider this way."""
        with self._lock:
            self._meter = meter
            self._instruments.clear()
            self._probes.clear()

    @property
    def meter(self) -> Meter:
        if self._meter is None:
            self._meter = metrics.get_meter("mlbsts")
        return self._meter

    def add(self, spec: MetricSpec, amount: float = 1, **labels: object) -> None:
        """A counter goes up by ``amount``."""
        self._instrument(spec, "counter").add(amount, _labels(spec, labels))

    def record(self, spec: MetricSpec, value: float, **labels: object) -> None:
        """One observation of a histogram."""
        self._instrument(spec, "histogram").record(value, _labels(spec, labels))

    def set(self, spec: MetricSpec, value: float, **labels: object) -> None:
        """A gauge's current value."""
        self._instrument(spec, "gauge").set(value, _labels(spec, labels))

    def observe(self, spec: MetricSpec, probe: Probe, **labels: object) -> None:
        """A gauge read from ``probe`` at each collection (replaces the probe of the same
        labels; a probe that raises is skipped)."""
        key = tuple(sorted(_labels(spec, labels).items()))
        with self._lock:
            self._probes.setdefault(spec.name, {})[key] = probe
        self._instrument(spec, "observed")

    def forget(self, spec: MetricSpec, **labels: object) -> None:
        """Stop observing the probe of these labels."""
        key = tuple(sorted(_labels(spec, labels).items()))
        with self._lock:
            self._probes.get(spec.name, {}).pop(key, None)

    def _instrument(self, spec: MetricSpec, form: str) -> Any:
        found = self._instruments.get(spec.name)
        if found is None:
            with self._lock:
                if spec.name not in self._instruments:
                    self._instruments[spec.name] = (form, self._make(spec, form))
                found = self._instruments[spec.name]
        if found[0] != form:
            raise ValueError(f"{spec.name} is recorded as {found[0]}, not {form}")
        return found[1]

    def _make(self, spec: MetricSpec, form: str) -> Any:
        if _FORMS[form] != spec.kind:
            raise ValueError(f"{spec.name} is a {spec.kind}: it cannot be recorded as {form}")
        name, unit, text = spec.instrument_name, spec.unit, spec.description
        meter = self.meter
        if form == "counter":
            return meter.create_counter(name, unit=unit, description=text)
        if form == "histogram":
            buckets = list(spec.buckets) if spec.buckets else None
            return meter.create_histogram(
                name, unit=unit, description=text, explicit_bucket_boundaries_advisory=buckets
            )
        if form == "gauge":
            return meter.create_gauge(name, unit=unit, description=text)
        return meter.create_observable_gauge(
            name, callbacks=[self._callback(spec.name)], unit=unit, description=text
        )

    def _callback(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def read(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                probes = list(self._probes.get(name, {}).items())
            out: list[Observation] = []
            for labels, probe in probes:
                try:
                    out.append(Observation(probe(), dict(labels)))
                except Exception:  # noqa: S112 - a probe of a closed resource: skip it
                    continue
            return out

        return read


#: the process's recorder (the global meter provider)
RECORDER = Recorder()


def record_age(stage: str, feed_ts: str | None, now: float | None = None) -> None:
    """``mlbsts_data_age_seconds{stage}``: ``now`` (default: the wall clock) minus the
    feed timestamp of a snapshot (``YYYYMMDD_HHMMSS``, UTC). A replay of an old game is
    as old as its data: hours or days, which is what the metric should say."""
    if not feed_ts:
        return
    try:
        then = parse_feed_timestamp(feed_ts).timestamp()
    except ValueError:
        return
    RECORDER.record(DATA_AGE, (time.time() if now is None else now) - then, stage=stage)
