"""Reading back what a finished run wrote to a topic, to a known end.

``connectors.kafka_read.read_topic`` stops once every partition reported EOF and a quiet
second passed. On the embedded broker that EOF depends on its high watermark, which can
lag (the start of the last batch, e.g. after a restart), and in this suite a read-back
after the broker was killed then spun until its timeout. Here the end is certain instead:
once the run is over, :func:`read_after` writes an *end record* (key ``END_KEY``, a value
of its own) to every partition and reads from the mark until it has met that record in
each partition. Records on a partition keep their order, so everything the run wrote was
read. End records are never returned; the suite's readers skip their key anyway.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from connectors.kafka_io import consumer_config, producer_config
from connectors.kafka_read import KafkaReadError, Mark
from mlbsts.settings import Settings

END_KEY = b"fault-suite:end"
_TRANSIENT = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN})


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    meta = consumer.list_topics(topic, timeout=30)
    if topic not in meta.topics or meta.topics[topic].error is not None:
        raise KafkaReadError(f"topic {topic} not found")
    return sorted(meta.topics[topic].partitions)


def _write_ends(settings: Settings, topic: str, partitions: list[int], token: bytes) -> None:
    producer = Producer(producer_config(settings))
    failed: list[KafkaError] = []
    for p in partitions:
        producer.produce(
            topic,
            key=END_KEY,
            value=token,
            partition=p,
            on_delivery=lambda err, _msg: failed.append(err) if err else None,
        )
    if producer.flush(120) or failed:
        raise KafkaReadError(f"{topic}: end records not acknowledged: {failed}")


def read_after(settings: Settings, topic: str, start: Mark, timeout_s: float) -> list[Message]:
    """Every record of ``topic`` created after ``start``, up to end records written now."""
    token = uuid.uuid4().bytes
    consumer = Consumer(
        {
            **consumer_config(settings),
            "group.id": "fault-suite",
            "auto.offset.reset": "error",  # never skip what the mark points at
        }
    )
    try:
        partitions = _partitions(consumer, topic)
        _write_ends(settings, topic, partitions, token)
        consumer.assign([TopicPartition(topic, p, start.offsets.get(p, 0)) for p in partitions])
        ended: set[int] = set()
        out: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while len(ended) < len(partitions):
            if time.monotonic() > deadline:
                raise KafkaReadError(
                    f"{topic}: end records of partitions "
                    f"{sorted(set(partitions) - ended)} not met in {timeout_s}s"
                )
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if (err := msg.error()) is not None:
                if err.retriable() or err.code() in _TRANSIENT:
                    continue  # the consumer retries by itself
                raise KafkaReadError(f"reading {topic}: {err}")
            if msg.key() == END_KEY:
                if msg.value() == token:
                    ended.add(msg.partition() or 0)
            elif msg.timestamp()[1] >= start.since_ms:
                out.append(msg)
        return out
    finally:
        consumer.close()
