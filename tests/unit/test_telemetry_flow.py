"""The worker's metrics where they are recorded: the flow's steps on a real game's snapshots
(flows/observe.py), the sinks' writes, retries and queues (connectors/background_sink.py,
sink_retry.py), and the events' data age once the broker acknowledged them
(connectors/kafka_io.py). Read back through a private meter provider, as a scrape would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from bytewax.connectors.kafka import KafkaSourceMessage
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, generate_latest

from connectors.background_sink import _Writer
from connectors.kafka_io import OutRecord, _CheckedSinkPartition
from connectors.records import dead_letter_record
from connectors.sink_retry import RetryPolicy, ServerError
from flows.game.accepted import AcceptedSnapshot
from flows.game.batches import EventBatch
from flows.game.dead_letters import DeadLetter
from flows.game.envelope import make_envelope, parse_feed_timestamp
from flows.game.release import Tick
from flows.live_stats import _diff
from flows.observe import TALLY, count_events, decode_counted, events_committed, observed_diff
from flows.snapshot_decode import decode_snapshot
from mlbsts.telemetry.catalogue import GAMES_IN_STATE, STATE_BYTES
from mlbsts.telemetry.metrics import RECORDER, SINK
from mlbsts.telemetry.tracing import current_ids, kafka_headers, traceparent_of
from sim.simulate import simulate

pytestmark = pytest.mark.unit


class Scrape:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def value(self, series: str) -> float:
        text = generate_latest(self.registry).decode()
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@pytest.fixture
def scrape() -> Iterator[Scrape]:
    """The process's ``RECORDER`` recording into a private provider for one test."""
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(
        disable_target_info=True, scope_info_enabled=False, registry=registry
    )
    provider = MeterProvider(metric_readers=[reader])
    RECORDER.use(provider.get_meter("mlbsts"))
    yield Scrape(registry)
    RECORDER.use(None)
    provider.shutdown()


def _accepted(feed: dict[str, Any], traceparent: str | None = None) -> AcceptedSnapshot:
    body = orjson.dumps(feed)
    envelope = make_envelope(
        game_pk=int(feed["gamePk"]),
        body=body,
        source_url="https://statsapi.mlb.com/",
        status_code=200,
        captured_at=datetime.now(UTC),
        feed=feed,
    )
    return AcceptedSnapshot(
        envelope,
        b"raw",
        envelope.payload_json(),
        datetime.now(UTC).date(),
        "raw",
        0,
        1,
        traceparent,
    )


def test_the_diff_counts_snapshots_and_the_state_it_holds(
    scrape: Scrape, fixture_feed: dict[str, Any]
) -> None:
    snapshots = [_accepted(s) for s in simulate(fixture_feed, 25)]
    mapper = observed_diff(_diff)
    # the tally is the process's: flows run earlier in this process may hold other games
    TALLY.note(fixture_feed["gamePk"], None)
    held_before = TALLY.games()
    state = None
    batches: list[EventBatch] = []
    for item in [*snapshots, snapshots[1]]:  # the last one is stale: a dead letter
        state, out = mapper(state, item)
        batches += [b for b in out if isinstance(b, EventBatch)]
    count_events(e for b in batches for e in b.events)
    assert scrape.value('mlbsts_snapshots_total{outcome="accepted"}') == len(snapshots)
    assert scrape.value('mlbsts_snapshots_total{outcome="dead_letter"}') == 1
    events = sum(len(b.events) for b in batches)
    kinds = ("pitch", "play", "runner", "game", "retraction")
    assert sum(scrape.value(f'mlbsts_events_total{{kind="{k}"}}') for k in kinds) == events
    assert scrape.value('mlbsts_events_total{kind="pitch"}') > 200
    RECORDER.observe(GAMES_IN_STATE, TALLY.games)
    RECORDER.observe(STATE_BYTES, TALLY.size)
    assert scrape.value("mlbsts_games_in_state") == held_before + 1
    assert scrape.value("mlbsts_state_bytes") > 10_000
    assert state is not None and state.final_ts is not None
    later = parse_feed_timestamp(state.final_ts) + timedelta(hours=3)
    state, _ = mapper(state, Tick(now=later))  # released after the grace period
    assert state is None and scrape.value("mlbsts_games_in_state") == held_before


def test_decode_and_the_dead_letter_queue_count_dead_letters(scrape: Scrape) -> None:
    decode = decode_counted(decode_snapshot)
    bad = KafkaSourceMessage(key=b"1", value=b"not avro", topic="raw", partition=0, offset=3)
    letter = decode(bad)
    assert scrape.value('mlbsts_snapshots_total{outcome="dead_letter"}') == 1
    assert isinstance(letter, DeadLetter)
    dead_letter_record(letter)  # every letter on its way to the DLQ passes here
    assert scrape.value('mlbsts_dead_letters_total{error_class="unparsable"}') == 1


def test_committed_events_record_their_snapshot_age(scrape: Scrape) -> None:
    batch = EventBatch(1, datetime.now(UTC).date(), "20240601_120000", ())
    events_committed([batch, batch])
    assert scrape.value('mlbsts_data_age_seconds_count{stage="postgres_committed"}') == 2
    assert scrape.value('mlbsts_data_age_seconds_sum{stage="postgres_committed"}') > 3600


class _Part:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.trace_ids: list[str | None] = []

    def write_batch(self, items: list[Any]) -> None:
        ids = current_ids()
        self.trace_ids.append(ids[0] if ids else None)
        if self.fail:
            raise RuntimeError("refused")

    def close(self) -> None:
        pass


def _writer(part: _Part, on_written: Any = None) -> _Writer[Any]:
    return _Writer(
        part,  # type: ignore[arg-type]
        "raw_to_postgres-0",
        size=len,
        max_pending=10,
        max_bytes=1000,
        max_write=10,
        sink="raw_to_postgres",
        on_written=on_written,
    )


def test_a_sink_write_is_timed_traced_and_reported(scrape: Scrape) -> None:
    with TracerProvider().get_tracer("poller").start_as_current_span("publish") as span:
        parent = traceparent_of(kafka_headers())
    written: list[list[Any]] = []
    part = _Part()
    writer = _writer(part, written.append)
    writer.submit([_accepted_like(parent)])
    writer.drain()
    assert scrape.value('mlbsts_sink_queue_items{sink="raw_to_postgres"}') == 0
    writer.close()
    assert part.trace_ids == [format(span.get_span_context().trace_id, "032x")]
    assert len(written) == 1
    assert scrape.value('mlbsts_sink_write_seconds_count{sink="raw_to_postgres"}') == 1

    failing = _writer(_Part(fail=True))
    failing.submit([_accepted_like(None)])
    with pytest.raises(RuntimeError):
        failing.drain()
    assert scrape.value('mlbsts_sink_errors_total{sink="raw_to_postgres"}') == 1


class _Traced(bytes):
    traceparent: str | None = None


def _accepted_like(traceparent: str | None) -> _Traced:
    item = _Traced(b"snapshot")
    item.traceparent = traceparent
    return item


class _DownError(ServerError):
    server = "PostgreSQL"


def test_retries_count_for_the_sink_of_the_writing_thread(scrape: Scrape) -> None:
    attempts = iter([_DownError("down", transient=True), _DownError("down", transient=True), None])

    def write() -> None:
        error = next(attempts)
        if error is not None:
            raise error

    def writer_thread() -> None:
        SINK.set("game_to_postgres")
        RetryPolicy(60.0, sleep=lambda s: None).call(write, "a write")

    thread = threading.Thread(target=writer_thread)
    thread.start()
    thread.join()
    assert scrape.value('mlbsts_sink_retries_total{sink="game_to_postgres"}') == 2


class _Producer:
    """The three calls the Kafka sink makes; every record delivered at ``flush``."""

    def __init__(self) -> None:
        self.pending: list[tuple[OutRecord, Any]] = []
        self.headers: list[Any] = []

    def produce(
        self, topic: str, value: bytes, key: bytes | None, on_delivery: Any, **kw: Any
    ) -> None:
        self.headers.append(kw.get("headers"))
        self.pending.append((OutRecord(topic, key, value), on_delivery))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        pending, self.pending = self.pending, []
        for _record, callback in pending:
            callback(None, None)
        return 0

    def __len__(self) -> int:
        return len(self.pending)


def test_acknowledged_events_record_each_snapshot_age_once(scrape: Scrape) -> None:
    producer = _Producer()
    sink = _CheckedSinkPartition(producer, 10.0, "fake:9092")  # type: ignore[arg-type]
    records = [
        OutRecord("mlb.events.pitch", b"1", b"a", source_ts="20240601_120000"),
        OutRecord("mlb.events.play", b"1", b"b", source_ts="20240601_120000"),
        OutRecord("mlb.events.pitch", b"2", b"c", source_ts="20240601_120005"),
        OutRecord("mlb.stats.live", b"1", b"d", headers=(("traceparent", b"00-x"),)),
    ]
    sink.write_batch(records)
    assert scrape.value('mlbsts_sink_queue_items{sink="write_log"}') == 4
    assert scrape.value('mlbsts_data_age_seconds_count{stage="events_produced"}') == 0
    sink.snapshot()
    assert scrape.value('mlbsts_data_age_seconds_count{stage="events_produced"}') == 2
    assert scrape.value('mlbsts_sink_write_seconds_count{sink="write_log"}') == 1
    assert producer.headers == [None, None, None, [("traceparent", b"00-x")]]
