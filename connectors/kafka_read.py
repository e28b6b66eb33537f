"""Reading a topic back to its end (the demo and tests).

Tansu's high-watermark answers can lag (start of the last batch), so "the end" is not taken
from the watermark alone: reading stops once every partition reported EOF *and* a quiet
period passed with nothing new.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from connectors.kafka_io import consumer_config
from mlbsts.settings import Settings


class KafkaReadError(RuntimeError):
    """Broken infrastructure while reading a topic back; says which topic."""


def read_topic(
    settings: Settings,
    topic: str,
    *,
    quiet_s: float = 1.0,
    timeout_s: float = 60.0,
    start: Mark | None = None,
) -> Iterator[Message]:
    """Every record of ``topic`` from the beginning, in partition order; with ``start``,
    only the records created after that mark."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    meta = admin.list_topics(topic, timeout=10)
    if topic not in meta.topics or meta.topics[topic].error is not None:
        raise KafkaReadError(f"topic {topic} not found on {settings.kafka_bootstrap_servers}")
    partitions = sorted(meta.topics[topic].partitions)
    consumer = Consumer(
        {
            **consumer_config(settings),
            "group.id": "mlbsts-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign(
        [
            TopicPartition(topic, p, start.offsets.get(p, 0) if start else OFFSET_BEGINNING)
            for p in partitions
        ]
    )
    at_eof: set[int] = set()
    deadline = time.monotonic() + timeout_s
    last_seen = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            now = time.monotonic()
            if msg is None:
                if len(at_eof) == len(partitions) and now - last_seen >= quiet_s:
                    return
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    at_eof.add(msg.partition() or 0)
                    continue
                raise KafkaReadError(f"reading {topic}: {err}")
            at_eof.discard(msg.partition() or 0)
            last_seen = now
            if start is None or msg.timestamp()[1] >= start.since_ms:
                yield msg
        raise KafkaReadError(f"reading {topic}: no end reached in {timeout_s}s")
    finally:
        consumer.close()


WATERMARK_MARGIN = 500  # records before the high watermark, which Tansu may report late


@dataclass(frozen=True)
class Mark:
    """A point in a topic: reading from ``offsets`` and keeping records created at or after
    ``since_ms`` gives exactly what was written after the mark."""

    offsets: dict[int, int]
    since_ms: int


def mark(settings: Settings, topic: str) -> Mark:
    """Where ``topic`` is now, without reading it (cheap on a long-lived topic).

    Tansu's high watermark can lag (the start of its last batch), so the offsets start
    ``WATERMARK_MARGIN`` records earlier; the creation-time cutoff drops those again.
    """
    since_ms = int(time.time() * 1000)
    consumer = Consumer({**consumer_config(settings), "group.id": "mlbsts-mark"})
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    try:
        partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
        offsets = {}
        for p in partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            offsets[p] = max(0, high - WATERMARK_MARGIN)
    finally:
        consumer.close()
    return Mark(offsets, since_ms)
