"""Writing the flow's log records to renamed topics: a replay into a table version.

``mlbsts replay --into vN`` writes events, statistics and dead letters to the project's
topics with a suffix (``mlb.events.pitch.mlbsts_v2``, docs/architecture.md section 1), so
that subscribers of the live topics never see a version before it is promoted.

- :class:`RenamedTopicsSink` wraps a :class:`connectors.kafka_io.CheckedKafkaSink`: each
  record goes to its topic plus the suffix, with the same key, value and guarantees.
- :class:`RenamingRejects` is the sinks' ``rejects`` (``connectors.rejects``): a row the
  database refused becomes a ``db_rejected`` dead letter on the renamed dead-letter topic.

Records the broker refuses for their data still become ``kafka_rejected`` letters on the
live dead-letter topic (``connectors/kafka_io.py`` writes those itself).
"""

from __future__ import annotations

import dataclasses
import threading

from bytewax.outputs import StatefulSinkPartition
from confluent_kafka import Producer

from connectors.background_sink import KeyedSink
from connectors.kafka_io import CheckedKafkaSink, OutRecord, produce_all
from connectors.records import dead_letter_record
from flows.game.dead_letters import DeadLetter

__all__ = ["RenamedTopicsSink", "RenamingRejects"]


class _RenamingPartition(StatefulSinkPartition[OutRecord, None]):
    def __init__(self, inner: StatefulSinkPartition[OutRecord, None], suffix: str) -> None:
        self._inner = inner
        self._suffix = suffix

    def write_batch(self, values: list[OutRecord]) -> None:
        suffix = self._suffix
        self._inner.write_batch([dataclasses.replace(v, topic=v.topic + suffix) for v in values])

    def snapshot(self) -> None:
        self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class RenamedTopicsSink(KeyedSink[OutRecord]):
    """``inner`` writing every record to its topic name plus ``suffix``."""

    def __init__(self, inner: CheckedKafkaSink, suffix: str) -> None:
        super().__init__(inner.key, inner.partitions)
        self._inner = inner
        self._suffix = suffix

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _RenamingPartition:
        return _RenamingPartition(self._inner.build_part(step_id, for_part, None), self._suffix)


class RenamingRejects:
    """Callable: a refused row's dead letter, produced to the dead-letter topic plus
    ``suffix`` and waited for. The producer is made on first use and shared by the sink
    threads of the process (it is thread-safe)."""

    def __init__(self, config: dict[str, str | int | bool], suffix: str) -> None:
        self._config = config
        self._suffix = suffix
        self._producer: Producer | None = None
        self._lock = threading.Lock()

    def __call__(self, letter: DeadLetter) -> None:
        with self._lock:
            if self._producer is None:
                self._producer = Producer(self._config)
            producer = self._producer
        record = dead_letter_record(letter)
        produce_all(producer, [dataclasses.replace(record, topic=record.topic + self._suffix)])
