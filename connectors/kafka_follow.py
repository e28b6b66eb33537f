"""Following topics from a chosen start until the caller stops (``mlbsts tail``).

One consumer is assigned every partition of the topics (``assign``: no consumer group to
join, nothing committed), so following starts at once and leaves no trace on the brokers.
Records come in partition order; partitions and topics interleave as they are fetched.

Where following starts (:class:`Start`):

- ``beginning``: the first record of each partition;
- ``end``: only records created after the start. Tansu's high watermark can lag (the start
  of its last batch), so, like ``connectors.kafka_read.mark``, the offsets start
  ``WATERMARK_MARGIN`` records before it and records older than the start are dropped by
  their timestamp (a producer whose clock is behind can lose a record made in that instant);
- ``time:ISO``: records whose timestamp is at or after ISO. Each partition is sought with
  ``offsets_for_times``, which is a lower bound only: Tansu answers 0 to every such
  request, so there every record is read and the older ones are dropped by their
  timestamp, client-side. On Apache Kafka the seek skips them.

Exceptions::

    FollowError (RuntimeError)   broken infrastructure: brokers unreachable within the
                                 connect timeout, a topic that does not exist, a fatal
                                 consumer error; says which brokers or topic
    StartError (ValueError)      a start that is none of the three forms
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from connectors.kafka_io import consumer_config
from connectors.kafka_read import WATERMARK_MARGIN
from mlbsts.settings import Settings

__all__ = [
    "FollowError",
    "Received",
    "Start",
    "StartError",
    "follow",
    "parse_start",
    "subscriber_config",
]

POLL_S = 0.5


class FollowError(RuntimeError):
    """Broken infrastructure while following; says which brokers or topic."""


class StartError(ValueError):
    """A start position that is not ``beginning``, ``end`` or ``time:ISO``."""


@dataclass(frozen=True, slots=True)
class Start:
    """Where following starts; ``since_ms`` only for ``time``."""

    where: Literal["beginning", "end", "time"]
    since_ms: int | None = None


def parse_start(text: str) -> Start:
    """``beginning``, ``end`` or ``time:ISO`` (ISO 8601; without an offset it is UTC)."""
    if text == "beginning":
        return Start("beginning")
    if text == "end":
        return Start("end")
    prefix, _, stamp = text.partition(":")
    if prefix != "time" or not stamp:
        raise StartError(f"{text!r}: expected beginning, end or time:ISO-8601")
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError as e:
        raise StartError(f"{text!r}: {e}") from e
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Start("time", int(moment.timestamp() * 1000))


@dataclass(frozen=True, slots=True)
class Received:
    """One record as read from the log."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


BrokerTrouble = Callable[[str], None]


class _Trouble:
    """librdkafka's ``error_cb``: tells ``on_trouble`` of each kind of error once, until a
    record arrives again (``clear``)."""

    def __init__(self, servers: str, on_trouble: BrokerTrouble | None) -> None:
        self._servers = servers
        self._on_trouble = on_trouble
        self._reported: set[int] = set()

    def __call__(self, err: KafkaError) -> None:
        if self._on_trouble is not None and err.code() not in self._reported:
            self._reported.add(err.code())
            self._on_trouble(f"{err.str()} (still trying to reach {self._servers})")

    def clear(self) -> None:
        self._reported.clear()


def follow(
    settings: Settings,
    topic_names: list[str],
    start: Start,
    *,
    key: bytes | None = None,
    connect_timeout_s: float = 10.0,
    on_ready: Callable[[int], None] | None = None,
    on_trouble: BrokerTrouble | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> Generator[Received, None, None]:
    """Every record of ``topic_names`` from ``start`` on (only those keyed ``key`` if set),
    until ``stop()`` says so (asked at least every ``POLL_S``) or the caller stops
    iterating; close the iterator to close the consumer.

    ``on_ready(partitions)`` is called once every partition is assigned: a record created
    after that is seen. ``on_trouble(message)`` hears of a broker that went away while
    following (librdkafka reconnects by itself); it is told once until a record arrives.
    """
    trouble = _Trouble(settings.kafka_bootstrap_servers, on_trouble)
    consumer = Consumer(
        {
            **subscriber_config(settings),
            "group.id": f"mlbsts-tail-{uuid.uuid4().hex[:12]}",  # never joined: assign()
            "enable.auto.commit": False,
            "error_cb": trouble,
        }
    )
    try:
        assignment, since_ms = _positions(consumer, settings, topic_names, start, connect_timeout_s)
        consumer.assign(assignment)
        if on_ready is not None:
            on_ready(len(assignment))
        yield from _received(consumer, key, since_ms, trouble, stop)
    finally:
        consumer.close()


def subscriber_config(settings: Settings) -> dict[str, str | int | bool]:
    """A subscriber's consumer settings: the shared ones, with a fetch the broker may hold
    for ``kafka_subscriber_fetch_wait_ms``.

    Apache Kafka answers a held fetch as soon as a record arrives, so a long wait costs no
    latency there. The embedded broker (Tansu 0.6 on S3) lists every stored object of each
    fetched partition and reads the new ones; when that outlasts the wait it answers empty
    and the next fetch starts over, so a short wait (the worker's 50 ms) makes a subscriber
    of a dozen partitions fall tens of seconds behind on a busy machine
    (``bench/subscriber-report.md``), and each retry is more load on the S3 server.
    """
    return {
        **consumer_config(settings),
        "fetch.wait.max.ms": settings.kafka_subscriber_fetch_wait_ms,
    }


def _received(
    consumer: Consumer,
    key: bytes | None,
    since_ms: int | None,
    trouble: _Trouble,
    stop: Callable[[], bool],
) -> Iterator[Received]:
    """The assigned partitions' records, filtered by key and timestamp, until ``stop()``."""
    while not stop():
        msg = consumer.poll(POLL_S)
        if msg is None:
            continue
        err = msg.error()
        if err is not None:
            if err.fatal():
                raise FollowError(f"reading {msg.topic()}: {err}")
            trouble(err)
            continue
        trouble.clear()
        stamp = msg.timestamp()[1]
        if key is not None and msg.key() != key:
            continue
        if since_ms is not None and stamp < since_ms:
            continue
        yield Received(
            topic=msg.topic() or "",
            partition=msg.partition() or 0,
            offset=msg.offset() or 0,
            timestamp_ms=stamp,
            key=msg.key(),
            value=msg.value(),
        )


def _positions(
    consumer: Consumer, settings: Settings, topic_names: list[str], start: Start, timeout_s: float
) -> tuple[list[TopicPartition], int | None]:
    """Every partition of the topics at its start offset, and the timestamp filter."""
    servers = settings.kafka_bootstrap_servers
    try:
        meta = consumer.list_topics(timeout=timeout_s)
    except KafkaException as e:
        raise FollowError(f"cannot reach Kafka at {servers} within {timeout_s:g}s: {e}") from e
    partitions: list[TopicPartition] = []
    for name in topic_names:
        found = meta.topics.get(name)
        if found is None or found.error is not None:
            raise FollowError(f"topic {name} does not exist on {servers}")
        partitions.extend(TopicPartition(name, p) for p in sorted(found.partitions))
    try:
        if start.where == "beginning":
            return [_at(tp, OFFSET_BEGINNING) for tp in partitions], None
        if start.where == "end":
            since_ms = int(time.time() * 1000)
            return [_near_end(consumer, tp, timeout_s) for tp in partitions], since_ms
        since = start.since_ms or 0
        sought = consumer.offsets_for_times(
            [_at(tp, since) for tp in partitions], timeout=timeout_s
        )
        # -1: no record that recent yet, so what comes next is newer: start near the end
        found = [tp if tp.offset >= 0 else _near_end(consumer, tp, timeout_s) for tp in sought]
        return found, since
    except KafkaException as e:
        raise FollowError(f"cannot find the start offsets on {servers}: {e}") from e


def _at(tp: TopicPartition, offset: int) -> TopicPartition:
    return TopicPartition(tp.topic, tp.partition, offset)


def _near_end(consumer: Consumer, tp: TopicPartition, timeout_s: float) -> TopicPartition:
    _, high = consumer.get_watermark_offsets(tp, timeout=timeout_s)
    return _at(tp, max(0, high - WATERMARK_MARGIN))
