"""Kafka edge: producer/consumer configuration and a Bytewax sink that loses nothing silently.

Bytewax's own ``KafkaSink`` flushes but never looks at delivery reports, so a record the
broker refused would vanish. ``CheckedKafkaSink`` produces without waiting (librdkafka
batches and sends in the background) and, at the end of every epoch, before Bytewax commits
it, waits for every delivery report: the worker stops, and on resume Bytewax replays the
epoch (at-least-once; consumers dedupe by ``event_id``). A failure already reported stops
the worker at the next batch.

Bad data is a value, broken infrastructure an exception (docs/architecture.md, "Rules of
the code"). A record refused *for its data* (``DATA_ERRORS``: too large, invalid, corrupt),
by ``produce()`` or in its delivery report, would be refused again on every replay of its
epoch, so it does not stop the worker: it becomes a small ``kafka_rejected`` dead letter
(``connectors.records.rejected_letter``) on ``mlb.dlq.game-snapshots``, and the flow goes
on. ``produce_all`` does the same. Every other error (timeouts, broker down, transport,
authorization, unknown topic) raises. Exceptions::

    KafkaDeliveryError (RuntimeError)   the broker did not take a record; says topic and key

A broker away for less than ``sink_outage_budget_s`` is waited out: librdkafka retries for
``delivery.timeout.ms`` (the budget) and a flush waits a little longer
(``flush_timeout_s``), so every record has its report; meanwhile the producer's queue is
bounded, ``produce()`` raises ``BufferError`` and the flow blocks in ``_produce`` until
records leave (backpressure) rather than growing memory.

Telemetry: a record's ``headers`` are produced with it (the poller's ``traceparent``). The
sink times each epoch's wait for acknowledgements (``mlbsts_sink_write_seconds``), counts
its failures, exports the producer's queue, and once an epoch's events are acknowledged
records each snapshot's data age (``mlbsts_data_age_seconds{stage="events_produced"}``,
from the records' ``source_ts``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial

from bytewax.outputs import StatefulSinkPartition
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from connectors.background_sink import KeyedSink, step_name
from connectors.records import OutRecord, dead_letter_record, rejected_letter
from mlbsts.settings import Settings
from mlbsts.telemetry.catalogue import SINK_ERRORS, SINK_QUEUE_ITEMS, SINK_RETRIES, SINK_WRITE
from mlbsts.telemetry.metrics import RECORDER, record_age

__all__ = [
    "DATA_ERRORS",
    "SIZE_ERRORS",
    "CheckedKafkaSink",
    "DeliveryTracker",
    "KafkaDeliveryError",
    "OutRecord",
    "admin_config",
    "consumer_config",
    "flush_timeout_s",
    "is_data_error",
    "produce_all",
    "producer_config",
    "record_key",
]

log = logging.getLogger(__name__)

#: librdkafka's errors that refuse a record for its size: locally (``produce()`` checks
#: ``message.max.bytes``) or by the broker (topic ``max.message.bytes``, segment size)
SIZE_ERRORS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,  # 10: record (or its batch) over the limit
        KafkaError.INVALID_MSG_SIZE,  # 4: the broker found the record's size field wrong
        KafkaError.RECORD_LIST_TOO_LARGE,  # 18: the batch is larger than a log segment
    }
)
#: errors that refuse a record for its data: sending it again gives the same answer. The
#: rest are not the record's fault and raise: timeouts, transport, broker or leader not
#: available, not enough replicas, authorization, unknown topic or partition, and also
#: INVALID_TIMESTAMP (32; the producer host's clock, not the record) and
#: UNSUPPORTED_FOR_MESSAGE_FORMAT (43; the broker's configuration).
DATA_ERRORS = SIZE_ERRORS | {
    KafkaError.INVALID_MSG,  # 2, Kafka's CORRUPT_MESSAGE: still failing CRC after retries
    KafkaError.INVALID_RECORD,  # 87: the broker's validation of the record failed
}
#: librdkafka's default ``delivery.timeout.ms`` (a producer config without one)
DEFAULT_DELIVERY_TIMEOUT_MS = 300_000
#: a flush waits this much longer than librdkafka's delivery timeout, so that it never
#: gives up on a record librdkafka would still deliver (its timeout scan runs every second)
FLUSH_MARGIN_S = 5.0
QUEUE_MAX_MESSAGES = 100_000  # librdkafka's default, made explicit


class KafkaDeliveryError(RuntimeError):
    """Broken infrastructure: the broker did not acknowledge a record."""


def is_data_error(error: KafkaError) -> bool:
    """Was a record refused for its data (so it would be refused again)?"""
    return error.code() in DATA_ERRORS


def admin_config(settings: Settings) -> dict[str, str | int | bool]:
    """Where the brokers are and how to reach them (TLS/SASL): the base of every client."""
    config: dict[str, str | int | bool] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "security.protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism is not None:
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username is not None:
        config["sasl.username"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password is not None:
        config["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_ca_location is not None:
        config["ssl.ca.location"] = str(settings.kafka_ssl_ca_location)
    return config


def producer_config(settings: Settings) -> dict[str, str | int | bool]:
    """Acknowledged by all replicas, in order per partition, compressed, sized for whole
    late-game feeds; idempotent where the broker keeps idempotent records (``kafka_idempotence``).

    On Apache Kafka idempotence is right: a retried batch is written once. The embedded
    broker (Tansu 0.6) acknowledged idempotent records that were gone after it was killed
    and restarted (a delivery report with no offset, or an offset restarting from 0); with
    idempotence off it kept every acknowledged record (tests/integration/test_broker_kill.py).
    Without idempotence one request is in flight per connection, so a retry cannot reorder
    a partition, and a retried batch may be written twice: consumers see exact duplicates
    (same snapshot timestamp, same ``event_id`` and ``revision``) and drop them.

    A record is retried for ``sink_outage_budget_s`` (``delivery.timeout.ms``, at least
    1 s). The queue of records not yet acknowledged holds ``sink_queue_bytes``, and at least
    two of the largest records (``queue.buffering.max.kbytes``): when it is full,
    ``produce()`` raises ``BufferError`` and the caller waits.
    """
    queue_bytes = max(settings.sink_queue_bytes, 2 * settings.kafka_max_message_bytes)
    config: dict[str, str | int | bool] = {
        **admin_config(settings),
        "enable.idempotence": settings.kafka_idempotence,
        "acks": "all",
        "compression.type": "zstd",
        "message.max.bytes": settings.kafka_max_message_bytes,
        "linger.ms": 5,
        "delivery.timeout.ms": max(1000, round(settings.sink_outage_budget_s * 1000)),
        "queue.buffering.max.kbytes": queue_bytes // 1024,
        "queue.buffering.max.messages": QUEUE_MAX_MESSAGES,
    }
    if not settings.kafka_idempotence:
        config["max.in.flight.requests.per.connection"] = 1
    return config


def flush_timeout_s(config: Mapping[str, str | int | bool]) -> float:
    """How long a flush of a producer of ``config`` waits: its delivery timeout
    (``delivery.timeout.ms`` or its alias ``message.timeout.ms``) and ``FLUSH_MARGIN_S``."""
    timeout_ms = config.get("delivery.timeout.ms", config.get("message.timeout.ms"))
    if timeout_ms is None:
        timeout_ms = DEFAULT_DELIVERY_TIMEOUT_MS
    return int(timeout_ms) / 1000 + FLUSH_MARGIN_S


def consumer_config(settings: Settings) -> dict[str, str | int | bool]:
    """Settings shared by every reader (Bytewax assigns partitions itself)."""
    return {
        **admin_config(settings),
        "fetch.message.max.bytes": settings.kafka_max_message_bytes,
        "fetch.max.bytes": 4 * settings.kafka_max_message_bytes,
        # how long a broker may hold a fetch that has nothing new: librdkafka's default
        # (500 ms) is added to the latency of every snapshot on a quiet partition
        "fetch.wait.max.ms": settings.kafka_fetch_wait_max_ms,
        # librdkafka: must exceed fetch.max.bytes by at least 512 bytes of protocol framing
        "receive.message.max.bytes": 4 * settings.kafka_max_message_bytes + 1024 * 1024,
    }


class DeliveryTracker:
    """Collects delivery reports so a batch can be checked as a whole.

    ``failed``: records the broker did not take (infrastructure). ``refused``: records
    refused for their data (``is_data_error``), to become dead letters. A ``strict``
    tracker (the dead letters themselves) counts every error as a failure, so a refused
    dead letter raises rather than making another.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self.failed: list[tuple[str, bytes | None, KafkaError]] = []
        self.refused: list[tuple[OutRecord, KafkaError]] = []

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            return
        if self.strict or not is_data_error(err):
            self.failed.append((msg.topic() or "?", msg.key(), err))
        else:
            record = OutRecord(msg.topic() or "?", msg.key(), msg.value() or b"")
            self.refused.append((record, err))

    def raise_failure(self, count: int) -> None:
        if self.failed:
            topic, key, err = self.failed[0]
            raise KafkaDeliveryError(
                f"{len(self.failed)} of {count} records refused; first: topic {topic} "
                f"key {key!r}: {err}"
            )

    def take_refused(self) -> list[tuple[OutRecord, KafkaError]]:
        refused, self.refused = self.refused, []
        return refused


def _produce(producer: Producer, record: OutRecord, tracker: DeliveryTracker) -> None:
    while True:
        try:
            extra = {"headers": list(record.headers)} if record.headers else {}
            producer.produce(
                record.topic, value=record.value, key=record.key, on_delivery=tracker, **extra
            )
            break
        except BufferError:
            producer.poll(0.1)  # local queue full: let deliveries drain, then retry
        except KafkaException as e:
            error = e.args[0] if e.args and isinstance(e.args[0], KafkaError) else None
            if error is None or tracker.strict or not is_data_error(error):
                raise KafkaDeliveryError(
                    f"topic {record.topic} key {record.key!r}: produce refused "
                    f"({len(record.value)} bytes): {e}"
                ) from e
            tracker.refused.append((record, error))  # librdkafka refused it before sending
            break
    producer.poll(0)


def _flush(producer: Producer, timeout_s: float) -> None:
    remaining = producer.flush(timeout_s)
    if remaining:
        raise KafkaDeliveryError(f"{remaining} records not acknowledged in {timeout_s:.0f}s")


def _confirm(producer: Producer, tracker: DeliveryTracker, count: int, timeout_s: float) -> None:
    """Wait for every delivery report; raise if a record was not acknowledged. Records
    refused for their data are then produced as dead letters, and waited for too."""
    _flush(producer, timeout_s)
    tracker.raise_failure(count)
    refused = tracker.take_refused()
    if not refused:
        return
    letters = DeliveryTracker(strict=True)
    for record, error in refused:
        log.warning(
            "Kafka refused %d bytes for topic %s key %r for its data (%s): dead-lettered",
            len(record.value),
            record.topic,
            record.key,
            error,
        )
        letter = rejected_letter(record, str(error), size_error=error.code() in SIZE_ERRORS)
        _produce(producer, dead_letter_record(letter), letters)
    _flush(producer, timeout_s)
    letters.raise_failure(len(refused))


def _resend_until_taken(
    producer: Producer,
    records: list[OutRecord],
    tracker: DeliveryTracker,
    timeout_s: float,
    sink: str,
) -> DeliveryTracker:
    """Flush; while the broker failed records for a reason other than their data (an
    outage: a broker whose storage hangs answers "Unknown broker error"), produce the whole
    epoch again, in order, with backoff, until it is taken or the outage budget (the
    delivery timeout) has passed. Records already taken are repeated: exact duplicates,
    which consumers drop (docs/subscribing.md). Returns the last attempt's tracker."""
    budget, began, wait = timeout_s - FLUSH_MARGIN_S, time.monotonic(), 0.5
    while True:
        _flush(producer, timeout_s)
        if not tracker.failed or time.monotonic() - began + wait > budget:
            return tracker
        topic, key, err = tracker.failed[0]
        log.warning(
            "Kafka sink %s: %d of %d records not taken (first: topic %s key %r: %s); "
            "producing the epoch again in %.1f s",
            *(sink, len(tracker.failed), len(records), topic, key, err, wait),
        )
        RECORDER.add(SINK_RETRIES, sink=sink)
        time.sleep(wait)
        wait, tracker = min(wait * 2, 10.0), DeliveryTracker()
        for record in records:
            _produce(producer, record, tracker)


def produce_all(
    producer: Producer,
    records: Iterable[OutRecord],
    *,
    flush_timeout: float = DEFAULT_DELIVERY_TIMEOUT_MS / 1000 + FLUSH_MARGIN_S,
) -> int:
    """Produce records and wait until every one is acknowledged; raise if any was not.
    A record refused for its data is dead-lettered instead (module docstring).

    ``flush_timeout``: ``flush_timeout_s`` of the producer's config; the default fits
    librdkafka's default delivery timeout and the default ``sink_outage_budget_s``.
    """
    tracker = DeliveryTracker()
    count = 0
    for record in records:
        _produce(producer, record, tracker)
        count += 1
    _confirm(producer, tracker, count, flush_timeout)
    return count


class _CheckedSinkPartition(StatefulSinkPartition[OutRecord, None]):
    def __init__(
        self, producer: Producer, flush_timeout: float, brokers: str, sink: str = "write_log"
    ) -> None:
        self._producer = producer
        self._flush_timeout = flush_timeout
        self._brokers = brokers
        self._sink = sink
        RECORDER.add(SINK_ERRORS, 0, sink=sink)  # at 0 from the start: alerts see the first
        RECORDER.add(SINK_RETRIES, 0, sink=sink)
        self._tracker = DeliveryTracker()
        self._count = 0  # records produced since the last confirmed epoch
        self._epoch: list[OutRecord] = []  # those records, in order, to produce again
        self._stamps: set[tuple[bytes | None, str]] = set()  # (game, feed ts) produced
        RECORDER.observe(SINK_QUEUE_ITEMS, partial(len, producer), sink=sink)

    def write_batch(self, values: list[OutRecord]) -> None:
        with _logged(self._brokers, self._sink):
            for record in values:
                _produce(self._producer, record, self._tracker)
                if record.source_ts:
                    self._stamps.add((record.key, record.source_ts))
            self._epoch.extend(values)
            self._count += len(values)

    def snapshot(self) -> None:
        began = time.perf_counter()
        with _logged(self._brokers, self._sink):
            tracker = _resend_until_taken(
                self._producer, self._epoch, self._tracker, self._flush_timeout, self._sink
            )
            _confirm(self._producer, tracker, self._count, self._flush_timeout)
        RECORDER.record(SINK_WRITE, time.perf_counter() - began, sink=self._sink)
        now = time.time()
        for _, stamp in self._stamps:
            record_age("events_produced", stamp, now)
        self._stamps.clear()
        self._epoch, self._tracker, self._count = [], DeliveryTracker(), 0

    def close(self) -> None:
        self.snapshot()


@contextmanager
def _logged(brokers: str, sink: str) -> Iterator[None]:
    """Log a delivery failure before it propagates: Bytewax aborts the process on an error
    from a partitioned sink, and its panic message does not carry the Python one."""
    try:
        yield
    except KafkaDeliveryError as e:
        RECORDER.add(SINK_ERRORS, sink=sink)
        log.critical("Kafka sink (brokers %s): %s", brokers, e)
        raise


def record_key(record: OutRecord) -> str:
    """The partition key of a record in the flow: its Kafka key (gamePk), else its topic."""
    return record.key.decode() if record.key is not None else record.topic


class CheckedKafkaSink(KeyedSink[OutRecord]):
    """Writes ``OutRecord`` items to their topics; at-least-once, never silently lossy.
    One producer per partition; records of one key keep their order. A record refused for
    its data goes to the dead letters as ``kafka_rejected`` (module docstring)."""

    def __init__(self, config: dict[str, str | int | bool], partitions: int = 1) -> None:
        super().__init__(record_key, partitions)
        self._config = dict(config)

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _CheckedSinkPartition:
        brokers = str(self._config.get("bootstrap.servers", "?"))
        return _CheckedSinkPartition(
            Producer(self._config), flush_timeout_s(self._config), brokers, step_name(step_id)
        )
