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

from connectors.kafka_io import admin_config, consumer_config
from mlbsts.settings import Settings


class KafkaReadError(RuntimeError):
    """Broken infrastructure while reading a topic back; says which topic."""


#: ``fetch.wait.max.ms`` of readers of records already on the log (a replay's range, a
#: tool reading a topic to its end): Tansu 0.6 (S3 engine) fills a fetch for as long as
#: the wait allows, listing the whole partition at every fetch; at the live worker's 50 ms
#: it answered about one produce batch per fetch (~9 records/s per partition), at 1000 ms
#: ~70 records per fetch (~110/s). Apache Kafka answers as soon as it has
#: ``fetch.min.bytes``, so such a reader loses nothing there.
BACKLOG_FETCH_WAIT_MS = 1000


def backlog_config(settings: Settings) -> dict[str, str | int | bool]:
    """:func:`consumer_config` for a reader of records already on the log."""
    return {**consumer_config(settings), "fetch.wait.max.ms": BACKLOG_FETCH_WAIT_MS}


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
    admin = AdminClient(admin_config(settings))
    meta = admin.list_topics(topic, timeout=10)
    if topic not in meta.topics or meta.topics[topic].error is not None:
        raise KafkaReadError(f"topic {topic} not found on {settings.kafka_bootstrap_servers}")
    partitions = sorted(meta.topics[topic].partitions)
    consumer = Consumer(
        {
            **backlog_config(settings),  # records already on the log
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


def read_window(
    settings: Settings,
    topic: str,
    since_ms: int,
    until_ms: int | None = None,
    *,
    quiet_s: float = 1.0,
    timeout_s: float = 60.0,
) -> Iterator[Message]:
    """The records of ``topic`` whose timestamp is in ``[since_ms, until_ms)``, in partition
    order, without reading the topic from its start: each partition is sought with
    ``offsets_for_times(since_ms)`` and left at its first record at or after ``until_ms``.

    The seek is a lower bound (Tansu 0.6 answers offset 0 to every ``offsets_for_times``):
    records before ``since_ms`` are skipped by their timestamp, and the end is found by
    timestamp too, so the answer is right on any broker and cheap on a real Kafka."""
    consumer = Consumer(
        {
            **backlog_config(settings),  # records already on the log
            "group.id": "mlbsts-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        partitions = _partitions(settings, topic)
        sought = consumer.offsets_for_times(
            [TopicPartition(topic, p, since_ms) for p in partitions], timeout=10
        )
        starts = [tp for tp in sought if tp.offset >= 0]  # -1: nothing that recent
        if not starts:
            return
        consumer.assign(starts)
        yield from _window(
            consumer, topic, {tp.partition for tp in starts}, since_ms, until_ms, quiet_s, timeout_s
        )
    finally:
        consumer.close()


def _window(
    consumer: Consumer,
    topic: str,
    partitions: set[int],
    since_ms: int,
    until_ms: int | None,
    quiet_s: float,
    timeout_s: float,
) -> Iterator[Message]:
    done: set[int] = set()  # partitions past the window (left alone) or at their end
    deadline = time.monotonic() + timeout_s
    last_seen = time.monotonic()
    while time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        now = time.monotonic()
        if msg is None:
            if done >= partitions and now - last_seen >= quiet_s:
                return
            continue
        part = msg.partition() or 0
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                done.add(part)
                continue
            raise KafkaReadError(f"reading {topic}: {err}")
        last_seen = now
        stamp = msg.timestamp()[1]
        if until_ms is not None and stamp >= until_ms:
            consumer.pause([TopicPartition(topic, part)])
            done.add(part)
            if done >= partitions:
                return
            continue
        done.discard(part)
        if stamp >= since_ms:
            yield msg
    raise KafkaReadError(f"reading {topic}: no end reached in {timeout_s}s")


def _partitions(settings: Settings, topic: str) -> list[int]:
    admin = AdminClient(admin_config(settings))
    meta = admin.list_topics(topic, timeout=10)
    if topic not in meta.topics or meta.topics[topic].error is not None:
        raise KafkaReadError(f"topic {topic} not found on {settings.kafka_bootstrap_servers}")
    return sorted(meta.topics[topic].partitions)


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
    admin = AdminClient(admin_config(settings))
    try:
        partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
        offsets = {}
        for p in partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            offsets[p] = max(0, high - WATERMARK_MARGIN)
    finally:
        consumer.close()
    return Mark(offsets, since_ms)
