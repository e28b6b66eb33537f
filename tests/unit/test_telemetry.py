"""The metric catalogue as it appears on ``/metrics``, the recorder, the data age, and the
trace context carried in Kafka headers (mlbsts/telemetry/).

Metrics are read back through a real OpenTelemetry meter provider and its Prometheus
reader on a private registry: what a scrape would show, without touching the process's
global providers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, generate_latest

from mlbsts.telemetry import catalogue
from mlbsts.telemetry.catalogue import CATALOGUE, DATA_AGE, MetricSpec
from mlbsts.telemetry.metrics import RECORDER, Recorder, record_age
from mlbsts.telemetry.tracing import (
    context_of,
    current_ids,
    kafka_headers,
    sink_span,
    traceparent_of,
)

pytestmark = pytest.mark.unit

#: the names the lead fixed for the alert rules and dashboards (deploy/)
CONTRACT = {
    "mlbsts_up": "gauge",
    "mlbsts_build_info": "gauge",
    "mlbsts_data_age_seconds": "histogram",
    "mlbsts_snapshots_total": "counter",
    "mlbsts_events_total": "counter",
    "mlbsts_dead_letters_total": "counter",
    "mlbsts_sink_write_seconds": "histogram",
    "mlbsts_sink_retries_total": "counter",
    "mlbsts_sink_errors_total": "counter",
    "mlbsts_sink_queue_items": "gauge",
    "mlbsts_sink_queue_bytes": "gauge",
    "mlbsts_games_in_state": "gauge",
    "mlbsts_state_bytes": "gauge",
    "mlbsts_consumer_lag_records": "gauge",
    "mlbsts_worker_progress_timestamp_seconds": "gauge",
    "mlbsts_polls_total": "counter",
    "mlbsts_breaker_open": "gauge",
    "mlbsts_rate_limit_wait_seconds": "histogram",
    "mlbsts_correction_polls_total": "counter",
    "mlbsts_poller_tick_timestamp_seconds": "gauge",
    "mlbsts_ops_records_total": "counter",
}


@dataclass
class Scrape:
    recorder: Recorder
    registry: CollectorRegistry

    def text(self) -> str:
        return generate_latest(self.registry).decode()

    def value(self, series: str) -> float:
        """The value of one exported series, e.g. ``mlbsts_up{process="worker"}``."""
        for line in self.text().splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{series} not exported:\n{self.text()}")


@pytest.fixture
def scrape() -> Iterator[Scrape]:
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(
        disable_target_info=True, scope_info_enabled=False, registry=registry
    )
    provider = MeterProvider(metric_readers=[reader])
    yield Scrape(Recorder(provider.get_meter("mlbsts")), registry)
    provider.shutdown()


def _example(recorder: Recorder, spec: MetricSpec) -> None:
    labels = {name: "x" for name in spec.labels}
    if spec.kind == "counter":
        recorder.add(spec, 2, **labels)
    elif spec.kind == "histogram":
        recorder.record(spec, 0.7, **labels)
    else:
        recorder.set(spec, 3, **labels)


def test_every_metric_is_exported_by_its_contract_name_and_kind(scrape: Scrape) -> None:
    for spec in CATALOGUE:
        _example(scrape.recorder, spec)
    exported = dict(re.findall(r"^# TYPE (\S+) (\S+)$", scrape.text(), flags=re.MULTILINE))
    assert exported == CONTRACT
    assert {spec.name for spec in CATALOGUE} == set(CONTRACT)


def test_the_data_age_histogram_has_the_fixed_buckets(scrape: Scrape) -> None:
    scrape.recorder.record(DATA_AGE, 42.0, stage="published")
    bounds = re.findall(r'mlbsts_data_age_seconds_bucket\{le="([^"]+)"', scrape.text())
    assert [float(b) for b in bounds] == [*catalogue.AGE_BUCKETS, float("inf")]


def test_the_recorder_refuses_unknown_labels_and_the_wrong_kind(scrape: Scrape) -> None:
    with pytest.raises(ValueError, match="no label"):
        scrape.recorder.add(catalogue.POLLS, outcome="x", game="1")
    with pytest.raises(ValueError, match="is a counter"):
        scrape.recorder.record(catalogue.CORRECTION_POLLS, 1.0)
    scrape.recorder.set(catalogue.CONSUMER_LAG, 1, topic="t", partition=0)
    with pytest.raises(ValueError, match="recorded as gauge"):
        scrape.recorder.observe(catalogue.CONSUMER_LAG, lambda: 1.0, topic="t", partition=0)


def test_probes_are_read_at_each_scrape_and_a_broken_one_is_skipped(scrape: Scrape) -> None:
    queue = [1, 2, 3]

    def broken() -> float:
        raise RuntimeError("closed")

    scrape.recorder.observe(catalogue.SINK_QUEUE_ITEMS, lambda: len(queue), sink="write_log")
    scrape.recorder.observe(catalogue.SINK_QUEUE_ITEMS, broken, sink="raw_to_s3")
    assert scrape.value('mlbsts_sink_queue_items{sink="write_log"}') == 3
    queue.clear()
    assert scrape.value('mlbsts_sink_queue_items{sink="write_log"}') == 0
    assert 'sink="raw_to_s3"' not in scrape.text()
    scrape.recorder.forget(catalogue.SINK_QUEUE_ITEMS, sink="write_log")
    assert 'sink="write_log"' not in scrape.text()


def test_data_age_is_the_wall_clock_minus_the_feed_timestamp(scrape: Scrape) -> None:
    RECORDER.use(scrape.recorder.meter)  # the process's recorder, read back privately
    fed = 1_717_243_200.0  # 2024-06-01 12:00:00 UTC
    record_age("published", "20240601_120000", now=fed + 42)
    record_age("published", "20240601_120000_123", now=fed + 0.25)  # a sub-second suffix
    record_age("published", "not a stamp", now=fed)  # malformed: not observed
    record_age("published", None, now=fed)
    RECORDER.use(None)
    assert scrape.value('mlbsts_data_age_seconds_count{stage="published"}') == 2
    assert scrape.value('mlbsts_data_age_seconds_sum{stage="published"}') == 42.25


@dataclass(frozen=True)
class _Item:
    traceparent: str | None


def test_a_publish_span_travels_in_kafka_headers_and_parents_the_sink_write() -> None:
    assert kafka_headers() == []  # no span: no header
    poller = TracerProvider().get_tracer("poller")
    with poller.start_as_current_span("publish") as span:
        headers = kafka_headers()
        trace_id = format(span.get_span_context().trace_id, "032x")
    parent = traceparent_of(headers)
    assert parent is not None and parent.split("-")[1] == trace_id
    assert traceparent_of([("other", b"x"), ("traceparent", parent.encode())]) == parent
    assert context_of(parent) is not None
    assert context_of("00-garbage") is None and context_of(None) is None
    with sink_span("raw_to_postgres", [_Item(None), _Item(parent)]):
        ids = current_ids()
    assert ids is not None and ids[0] == trace_id
    with sink_span("raw_to_postgres", [_Item(None)]):
        assert current_ids() is None  # nothing to follow: no span
