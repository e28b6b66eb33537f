"""A bounded range of a Kafka topic as a Bytewax source, and the resolution of its bounds.

:class:`KafkaRangeSource` reads each partition from a start to an end offset
(:class:`connectors.log_range.PartitionRange`), then reports EOF: the input of
``mlbsts replay``. Its state per partition is the next offset to read (Bytewax recovery
resumes there; ``snapshot()`` is the position *after* the last record emitted). With
``games`` set, records of other games (by key) are read past and not emitted. Every
record read is counted in a shared :class:`RangeProgress` (the worker threads of one
process share it) for the progress bar.

:func:`resolve_range` gives each partition its ``[start, end)`` from the ``--from`` and
``--to`` bounds (pure rules in ``connectors/log_range.py``). Two broker facts shape it:

- the end of a partition is *found*, not taken from the high watermark (Tansu's can lag
  behind the last records): the partition is read from the watermark it reports to its
  EOF, and that EOF's offset is the end;
- a time is turned into an offset by ``offsets_for_times``, checked against the
  timestamps on either side; where the answer is wrong (Tansu answers 0), by a binary
  search over record timestamps (``log_range.first_offset_at``).

Exceptions: :class:`KafkaRangeError` (broken infrastructure, or a range the log no longer
holds), naming the topic and partition.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from bytewax.connectors.kafka import KafkaError as BytewaxKafkaError
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from connectors.kafka_read import BACKLOG_FETCH_WAIT_MS
from connectors.log_range import Bound, PartitionRange, first_offset_at, resolve

__all__ = [
    "KafkaRangeError",
    "KafkaRangeSource",
    "RangeProgress",
    "RawMessage",
    "resolve_range",
]

SourceMessage = KafkaSourceMessage[bytes | None, bytes | None]
#: what the flow's input takes (``flows.live_stats.RawMessage``); this source emits no errors
RawMessage = SourceMessage | BytewaxKafkaError[bytes | None, bytes | None]
POLL_S = 0.01  # next_batch never blocks longer than this
LOOKUP_TIMEOUT_S = 30.0


class KafkaRangeError(RuntimeError):
    """Reading a range failed: the broker, or offsets the topic no longer holds."""


@dataclass
class RangeProgress:
    """Records read (``done``) and snapshots emitted, summed over a process's partitions."""

    total: int = 0
    done: int = 0
    emitted: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, done: int, emitted: int) -> None:
        with self._lock:
            self.done += done
            self.emitted += emitted

    def shrink(self, records: int) -> None:
        """A partition ended early by its bound: ``records`` fewer to read."""
        with self._lock:
            self.total -= records


def _range_config(config: Mapping[str, str | int | bool]) -> dict[str, str | int | bool]:
    return {
        **config,
        "group.id": "mlbsts-replay",  # never joined: partitions are assigned directly
        "enable.auto.commit": False,
        "auto.offset.reset": "error",  # an offset the log no longer holds is an error
    }


def _reader_config(config: Mapping[str, str | int | bool]) -> dict[str, str | int | bool]:
    """The config of a partition's reader: the range's, with the fetch wait of a reader of
    records already on the log (``connectors.kafka_read.BACKLOG_FETCH_WAIT_MS``: on the
    embedded broker a replay read ~9 records/s per partition at the live worker's 50 ms)."""
    return {**_range_config(config), "fetch.wait.max.ms": BACKLOG_FETCH_WAIT_MS}


class _RangePartition(StatefulSourcePartition[RawMessage, int]):
    def __init__(
        self,
        config: dict[str, str | int | bool],
        topic: str,
        part: PartitionRange,
        resume: int | None,
        keys: frozenset[bytes] | None,
        batch_size: int,
        progress: RangeProgress,
    ) -> None:
        self._topic, self._range, self._keys = topic, part, keys
        self._offset = part.start if resume is None else resume
        self._batch_size = batch_size
        self._progress = progress
        progress.add(self._offset - part.start, 0)
        self._consumer: Consumer | None = None
        if self._offset < part.end:
            self._consumer = Consumer(_reader_config(config))
            self._consumer.assign([TopicPartition(topic, part.partition, self._offset)])

    def next_batch(self) -> list[RawMessage]:
        if self._consumer is None or self._offset >= self._range.end:
            raise StopIteration
        batch: list[RawMessage] = []
        before = self._offset
        for msg in self._consumer.consume(self._batch_size, POLL_S):
            err = msg.error()
            if err is not None:
                where = f"{self._topic}[{self._range.partition}] at offset {self._offset}"
                raise KafkaRangeError(f"reading {where}: {err}")
            offset = msg.offset() or 0
            if offset >= self._range.end:
                break
            self._offset = offset + 1
            if self._keys is None or msg.key() in self._keys:
                batch.append(_message(msg))
        self._progress.add(self._offset - before, len(batch))
        return batch

    def snapshot(self) -> int:
        return self._offset

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()


def _message(msg: Message) -> SourceMessage:
    return KafkaSourceMessage(
        key=msg.key(),
        value=msg.value(),
        topic=msg.topic(),
        headers=msg.headers() or [],
        latency=msg.latency(),
        offset=msg.offset(),
        partition=msg.partition(),
        timestamp=msg.timestamp(),
    )


class KafkaRangeSource(FixedPartitionedSource[RawMessage, int]):
    """The records of ``topic`` in ``ranges`` (one per partition), then EOF.

    Delivery: each record once per run; after a resume from recovery, from the offset
    after the last snapshot (the flow's sinks are idempotent).
    """

    def __init__(
        self,
        config: Mapping[str, str | int | bool],
        topic: str,
        ranges: Mapping[int, PartitionRange],
        *,
        games: frozenset[int] | None = None,
        batch_size: int = 100,
        progress: RangeProgress | None = None,
    ) -> None:
        self._config = dict(config)
        self._topic = topic
        self._ranges = dict(ranges)
        self._keys = None if games is None else frozenset(str(g).encode() for g in games)
        self._batch_size = batch_size
        self.progress = progress or RangeProgress(total=sum(r.size for r in ranges.values()))

    def list_parts(self) -> list[str]:
        return [str(p) for p in sorted(self._ranges)]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _RangePartition:
        part = self._ranges[int(for_part)]
        return _RangePartition(
            self._config,
            self._topic,
            part,
            resume_state,
            self._keys,
            self._batch_size,
            self.progress,
        )


# --- resolving the bounds -----------------------------------------------------------------


def resolve_range(
    config: Mapping[str, str | int | bool], topic: str, start: list[Bound], stop: list[Bound]
) -> dict[int, PartitionRange]:
    """Each partition's ``[start, end)`` for the bounds, on the topic as it is now."""
    cfg = _range_config(config)
    consumer = Consumer(cfg)
    try:
        meta = consumer.list_topics(topic, timeout=LOOKUP_TIMEOUT_S)
        found = meta.topics.get(topic)
        if found is None or found.error is not None:
            raise KafkaRangeError(f"topic {topic} not found")
        partitions = {p: _low_and_end(cfg, consumer, topic, p) for p in sorted(found.partitions)}

        def first_at(p: int, at_ms: int) -> int:
            low, end = partitions[p]
            return _first_at(consumer, topic, p, low, end, at_ms)

        return resolve(start, stop, partitions, first_at)
    finally:
        consumer.close()


def _low_and_end(
    config: dict[str, str | int | bool], consumer: Consumer, topic: str, p: int
) -> tuple[int, int]:
    """The partition's first offset and its end, found by reading to EOF from the
    watermark the broker reports (which may be short of the end, never past it)."""
    try:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, p), timeout=LOOKUP_TIMEOUT_S
        )
    except Exception as e:  # confluent_kafka raises KafkaException
        raise KafkaRangeError(f"{topic}[{p}]: watermarks: {e}") from e
    probe = Consumer({**config, "enable.partition.eof": True})
    try:
        probe.assign([TopicPartition(topic, p, max(low, high))])
        deadline = time.monotonic() + LOOKUP_TIMEOUT_S
        while time.monotonic() < deadline:
            msg = probe.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None and err.code() == KafkaError._PARTITION_EOF:
                return low, max(high, msg.offset() or 0)
            if err is not None:
                raise KafkaRangeError(f"{topic}[{p}]: reading to the end: {err}")
        raise KafkaRangeError(f"{topic}[{p}]: no end found in {LOOKUP_TIMEOUT_S:g} s")
    finally:
        probe.close()


def _first_at(consumer: Consumer, topic: str, p: int, low: int, end: int, at_ms: int) -> int:
    """The first offset at or after ``at_ms``: the broker's answer if the timestamps on
    either side confirm it, else a binary search."""
    cache: dict[int, int] = {}

    def timestamp_of(offset: int) -> int:
        if offset not in cache:
            cache[offset] = _timestamp_at(consumer, topic, p, offset)
        return cache[offset]

    [hint] = consumer.offsets_for_times([TopicPartition(topic, p, at_ms)], timeout=LOOKUP_TIMEOUT_S)
    guess = end if hint.offset < 0 else min(max(hint.offset, low), end)
    before_ok = guess == low or timestamp_of(guess - 1) < at_ms
    at_ok = guess == end or timestamp_of(guess) >= at_ms
    if before_ok and at_ok:
        return guess
    return first_offset_at(low, end, at_ms, timestamp_of)


def _timestamp_at(consumer: Consumer, topic: str, p: int, offset: int) -> int:
    """The timestamp (epoch ms) of the first record at or after ``offset``."""
    consumer.assign([TopicPartition(topic, p, offset)])
    deadline = time.monotonic() + LOOKUP_TIMEOUT_S
    while time.monotonic() < deadline:
        for msg in consumer.consume(1, 0.5):
            if msg.error() is not None:
                raise KafkaRangeError(f"{topic}[{p}] at offset {offset}: {msg.error()}")
            return int(msg.timestamp()[1])
    raise KafkaRangeError(f"{topic}[{p}]: no record at offset {offset} in {LOOKUP_TIMEOUT_S:g} s")
