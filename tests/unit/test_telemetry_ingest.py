"""The poller's telemetry (ingest/observe.py, ingest/runner.py): every poll counted once by
outcome, the loop's heartbeat, the data age of what it published, and the trace context in
the headers of each snapshot record. The runner runs on the fake API, clock and publisher
of tests/unit/test_ingest_runner.py, with the repository's real final feed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, generate_latest

from ingest.observe import OUTCOMES
from mlbsts.telemetry.metrics import RECORDER
from mlbsts.telemetry.progress import POLLER
from mlbsts.telemetry.tracing import traceparent_of
from tests.unit.test_ingest_runner import (
    NO_CORRECTIONS,
    T0,
    FakeApi,
    FakeClock,
    FakePublisher,
    as_game,
    ingester,
    schedule_of,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(
        disable_target_info=True, scope_info_enabled=False, registry=registry
    )
    provider = MeterProvider(metric_readers=[reader])
    RECORDER.use(provider.get_meter("mlbsts"))
    yield registry
    RECORDER.use(None)
    provider.shutdown()


def _series(registry: CollectorRegistry, prefix: str) -> dict[str, float]:
    text = generate_latest(registry).decode()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


def test_polls_count_once_by_outcome_and_records_carry_the_trace(
    registry: CollectorRegistry,
) -> None:
    clock = FakeClock(T0)
    api = FakeApi(clock, lambda d: schedule_of(d, [1, 2], T0), lambda pk, _: as_game(pk))
    api.fail_next[1] = RuntimeError("a body the client did not expect")
    publisher = FakePublisher()
    began = time.time()
    run = ingester(
        api, clock, publisher, days=(T0.date(),), cadence=NO_CORRECTIONS, until_final=True
    )
    with TracerProvider().get_tracer("test").start_as_current_span("run") as span:
        stats = asyncio.run(run.run())

    polls = _series(registry, "mlbsts_polls_total")
    assert sum(polls.values()) == stats.polls
    assert polls['mlbsts_polls_total{outcome="error"}'] == 1
    assert polls['mlbsts_polls_total{outcome="published"}'] == 2  # each game's final feed
    assert polls['mlbsts_polls_total{outcome="unchanged"}'] == 2  # the re-polls after Final
    assert {k.split('"')[1] for k in polls} <= set(OUTCOMES)
    corrections = _series(registry, "mlbsts_correction_polls_total")
    assert corrections["mlbsts_correction_polls_total"] == 2  # those two: the game was Final
    ages = _series(registry, "mlbsts_data_age_seconds_count")
    assert ages['mlbsts_data_age_seconds_count{stage="published"}'] == 2
    assert POLLER.last is not None and POLLER.last >= began
    trace_id = format(span.get_span_context().trace_id, "032x")
    snapshots = [r for r in publisher.records if r.topic == "snap"]
    assert len(snapshots) == 2
    for record in snapshots:
        parent = traceparent_of(record.headers)
        assert parent is not None and parent.split("-")[1] == trace_id
    assert all(r.headers == () for r in publisher.records if r.topic == "sched")
