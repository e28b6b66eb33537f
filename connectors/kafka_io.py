"""Kafka edge: producer/consumer configuration and a Bytewax sink that loses nothing silently.

Bytewax's own ``KafkaSink`` flushes but never looks at delivery reports, so a record the
broker refused would vanish. ``CheckedKafkaSink`` waits for every delivery report of a batch
and raises if any failed: the worker stops, and on resume Bytewax replays the epoch
(at-least-once; consumers dedupe by ``event_id``). Exceptions::

    KafkaDeliveryError (RuntimeError)   the broker did not take a record; says topic and key
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import KafkaError, Message, Producer

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


def producer_config(settings: Settings) -> dict[str, str | int | bool]:
    """Idempotent, acknowledged by all replicas, compressed, sized for whole late-game feeds."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "zstd",
        "message.max.bytes": settings.kafka_max_message_bytes,
        "linger.ms": 5,
        "delivery.timeout.ms": 60_000,
    }


def consumer_config(settings: Settings) -> dict[str, str | int | bool]:
    """Settings shared by every reader (Bytewax assigns partitions itself)."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
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


def produce_all(producer: Producer, records: Iterable[OutRecord]) -> int:
    """Produce records and wait until every one is acknowledged; raise if any was not."""
    tracker = DeliveryTracker()
    count = 0
    for record in records:
        while True:
            try:
                producer.produce(
                    record.topic, value=record.value, key=record.key, on_delivery=tracker
                )
                break
            except BufferError:
                producer.poll(0.1)  # local queue full: let deliveries drain, then retry
        producer.poll(0)
        count += 1
    remaining = producer.flush(FLUSH_TIMEOUT_S)
    if remaining:
        raise KafkaDeliveryError(f"{remaining} records not acknowledged in {FLUSH_TIMEOUT_S}s")
    if tracker.failed:
        topic, key, err = tracker.failed[0]
        raise KafkaDeliveryError(
            f"{len(tracker.failed)} of {count} records refused; first: topic {topic} "
            f"key {key!r}: {err}"
        )
    return count


class _CheckedSinkPartition(StatelessSinkPartition[OutRecord]):
    def __init__(self, producer: Producer) -> None:
        self._producer = producer

    def write_batch(self, items: list[OutRecord]) -> None:
        produce_all(self._producer, items)

    def close(self) -> None:
        self._producer.flush(FLUSH_TIMEOUT_S)


class CheckedKafkaSink(DynamicSink[OutRecord]):
    """Writes ``OutRecord`` items to their topics; at-least-once, never silently lossy."""

    def __init__(self, config: dict[str, str | int | bool]) -> None:
        self._config = dict(config)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _CheckedSinkPartition:
        return _CheckedSinkPartition(Producer(self._config))
