"""The worker's Kafka input, observed: which partitions this process reads, how far, how
recently, and how much is left to read.

``ObservedKafkaSource`` is Bytewax's ``KafkaSource`` whose partitions report each poll to
``mlbsts.telemetry.progress.INPUT`` (the next offset and the time), and leave it when they
close. A Bytewax worker polls its input between its other steps on one thread, so a
partition that stops being polled means a worker that stopped (the worker's liveness,
``mlbsts.telemetry.health``).

``LagWatcher`` is a thread that asks the brokers every ``every_s`` for the high watermark
of each partition read here and sets its lag (high watermark minus the worker's next
offset; ``mlbsts_consumer_lag_records``). Bytewax's source never commits offsets, so no
consumer-group tool can see this lag. The embedded broker's watermark can lag by up to its
last batch (docs/architecture.md section 4): the lag is then underestimated by that much,
never overestimated, and a negative difference counts as 0. When the brokers cannot be
reached the lag is unknown (``None``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from bytewax.connectors.kafka import KafkaError, KafkaSource, KafkaSourceMessage
from bytewax.inputs import StatefulSourcePartition
from confluent_kafka import Consumer, KafkaException, TopicPartition

from mlbsts.telemetry.catalogue import CONSUMER_LAG
from mlbsts.telemetry.metrics import RECORDER
from mlbsts.telemetry.progress import INPUT, InputProgress

__all__ = ["LagWatcher", "ObservedKafkaSource"]

log = logging.getLogger(__name__)

Item = KafkaSourceMessage[bytes | None, bytes | None] | KafkaError[bytes | None, bytes | None]
LAG_EVERY_S = 5.0
WATERMARK_TIMEOUT_S = 2.0


class _ObservedPartition(StatefulSourcePartition[Item, int | None]):
    def __init__(
        self,
        inner: StatefulSourcePartition[Item, int | None],
        topic: str,
        partition: int,
        progress: InputProgress,
    ) -> None:
        self._inner = inner
        self._topic = topic
        self._partition = partition
        self._progress = progress

    def next_batch(self) -> list[Item]:
        try:
            batch = list(self._inner.next_batch())
        except StopIteration:
            self._progress.closed(self._topic, self._partition)
            raise
        self._progress.polled(self._topic, self._partition, self._inner.snapshot())
        return batch

    def next_awake(self) -> Any:
        return self._inner.next_awake()

    def snapshot(self) -> int | None:
        return self._inner.snapshot()

    def close(self) -> None:
        self._progress.closed(self._topic, self._partition)
        self._inner.close()


class ObservedKafkaSource(KafkaSource):
    """``KafkaSource`` (same arguments) whose partitions report to ``progress``."""

    def __init__(self, *args: Any, progress: InputProgress = INPUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._progress = progress

    def build_part(  # type: ignore[override]  # a wrapper, not Bytewax's private class
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _ObservedPartition:
        inner = super().build_part(step_id, for_part, resume_state)
        index, topic = for_part.split("-", 1)
        self._progress.polled(topic, int(index), resume_state)  # built: counts as a poll
        return _ObservedPartition(inner, topic, int(index), self._progress)


class LagWatcher:
    """A daemon thread setting the lag of every partition in ``progress`` (module doc)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        progress: InputProgress = INPUT,
        every_s: float = LAG_EVERY_S,
    ) -> None:
        self._config = {
            **config,
            "group.id": "mlbsts-lag-watcher",  # required by librdkafka; never joined
            "enable.auto.commit": False,
        }
        self._progress = progress
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-watcher", daemon=True)

    def start(self) -> LagWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        consumer = Consumer(self._config)
        try:
            while not self._stop.is_set():
                self.measure(consumer)
                self._stop.wait(self._every_s)
        finally:
            consumer.close()

    def measure(self, consumer: Consumer) -> None:
        """One round: every partition read here gets its lag (``None`` if not reached)."""
        for topic, partition, next_offset in self._progress.owned():
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=WATERMARK_TIMEOUT_S, cached=False
                )
            except KafkaException as e:
                log.debug("lag of %s[%d] unknown: %s", topic, partition, e)
                self._progress.set_lag(topic, partition, None)
                continue
            lag = max(0, high - (low if next_offset is None else max(next_offset, low)))
            self._progress.set_lag(topic, partition, lag)
            RECORDER.set(CONSUMER_LAG, lag, topic=topic, partition=partition)
