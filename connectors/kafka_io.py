"""Kafka edge: producer/consumer configuration and a Bytewax sink that loses nothing silently.

Bytewax's own ``KafkaSink`` flushes but never looks at delivery reports, so a record the
broker refused would vanish. ``CheckedKafkaSink`` produces without waiting (librdkafka
batches and sends in the background) and, at the end of every epoch, before Bytewax commits
it, waits for every delivery report and raises if any failed: the worker stops, and on
resume Bytewax replays the epoch (at-least-once; consumers dedupe by ``event_id``). A
failure already reported stops the worker at the next batch. Exceptions::

    KafkaDeliveryError (RuntimeError)   the broker did not take a record; says topic and key
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bytewax.outputs import StatefulSinkPartition
from confluent_kafka import KafkaError, Message, Producer

from connectors.background_sink import KeyedSink
from mlbsts.settings import Settings

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 30.0


class KafkaDeliveryError(RuntimeError):
    """Broken infrastructure: the broker did not acknowledge a record."""


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A record for the log: explicit topic, key and value bytes."""

    topic: str
    key: bytes | None
    value: bytes


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
    """
    config: dict[str, str | int | bool] = {
        **admin_config(settings),
        "enable.idempotence": settings.kafka_idempotence,
        "acks": "all",
        "compression.type": "zstd",
        "message.max.bytes": settings.kafka_max_message_bytes,
        "linger.ms": 5,
        "delivery.timeout.ms": 60_000,
    }
    if not settings.kafka_idempotence:
        config["max.in.flight.requests.per.connection"] = 1
    return config


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
    """Collects delivery reports so a batch can be checked as a whole."""

    def __init__(self) -> None:
        self.failed: list[tuple[str, bytes | None, KafkaError]] = []

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.failed.append((msg.topic() or "?", msg.key(), err))

    def raise_failure(self, count: int) -> None:
        if self.failed:
            topic, key, err = self.failed[0]
            raise KafkaDeliveryError(
                f"{len(self.failed)} of {count} records refused; first: topic {topic} "
                f"key {key!r}: {err}"
            )


def _produce(producer: Producer, record: OutRecord, tracker: DeliveryTracker) -> None:
    while True:
        try:
            producer.produce(record.topic, value=record.value, key=record.key, on_delivery=tracker)
            break
        except BufferError:
            producer.poll(0.1)  # local queue full: let deliveries drain, then retry
    producer.poll(0)


def _confirm(producer: Producer, tracker: DeliveryTracker, count: int) -> None:
    """Wait for every delivery report; raise if a record was not acknowledged."""
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    if remaining:
        raise KafkaDeliveryError(f"{remaining} records not acknowledged in {FLUSH_TIMEOUT_S}s")
    tracker.raise_failure(count)


def produce_all(producer: Producer, records: Iterable[OutRecord]) -> int:
    """Produce records and wait until every one is acknowledged; raise if any was not."""
    tracker = DeliveryTracker()
    count = 0
    for record in records:
        _produce(producer, record, tracker)
        count += 1
    _confirm(producer, tracker, count)
    return count


class _CheckedSinkPartition(StatefulSinkPartition[OutRecord, None]):
    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._tracker = DeliveryTracker()
        self._count = 0  # records produced since the last confirmed epoch

    def write_batch(self, values: list[OutRecord]) -> None:
        for record in values:
            _produce(self._producer, record, self._tracker)
        self._count += len(values)
        with _logged():
            self._tracker.raise_failure(self._count)

    def snapshot(self) -> None:
        with _logged():
            _confirm(self._producer, self._tracker, self._count)
        self._count = 0

    def close(self) -> None:
        self.snapshot()


@contextmanager
def _logged() -> Iterator[None]:
    """Log a delivery failure before it propagates: Bytewax aborts the process on an error
    from a partitioned sink, and its panic message does not carry the Python one."""
    try:
        yield
    except KafkaDeliveryError as e:
        log.critical("Kafka sink: %s", e)
        raise


def record_key(record: OutRecord) -> str:
    """The partition key of a record in the flow: its Kafka key (gamePk), else its topic."""
    return record.key.decode() if record.key is not None else record.topic


class CheckedKafkaSink(KeyedSink[OutRecord]):
    """Writes ``OutRecord`` items to their topics; at-least-once, never silently lossy.
    One producer per partition; records of one key keep their order."""

    def __init__(self, config: dict[str, str | int | bool], partitions: int = 1) -> None:
        super().__init__(record_key, partitions)
        self._config = dict(config)

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _CheckedSinkPartition:
        return _CheckedSinkPartition(Producer(self._config))
