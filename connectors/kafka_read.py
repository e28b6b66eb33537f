"""Reading a topic back to its end (the demo and tests).

Tansu's high-watermark answers can lag (start of the last batch), so "the end" is not taken
from the watermark alone: reading stops once every partition reported EOF *and* a quiet
period passed with nothing new.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from connectors.kafka_io import consumer_config
from mlbsts.settings import Settings


class KafkaReadError(RuntimeError):
    """Broken infrastructure while reading a topic back; says which topic."""


def read_topic(
    settings: Settings, topic: str, *, quiet_s: float = 1.0, timeout_s: float = 60.0
) -> Iterator[Message]:
    """Every record of ``topic`` from the beginning, in partition order."""
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
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
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
            yield msg
        raise KafkaReadError(f"reading {topic}: no end reached in {timeout_s}s")
    finally:
        consumer.close()


def next_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """For each partition, the offset the next record will get (read, not from watermarks)."""
    after: dict[int, int] = {}
    for msg in read_topic(settings, topic, quiet_s=0.5):
        after[msg.partition() or 0] = (msg.offset() or 0) + 1
    return after
