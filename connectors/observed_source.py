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

Listing the partitions at start (``list_parts``) is bounded: Bytewax's own listing waits
for the brokers without a limit (a worker started while the broker is away would hang with
no word) and builds its admin client from the consumer settings (librdkafka warns about
each consumer-only property). Here the admin client takes the admin settings only, each
request waits ``LIST_TIMEOUT_S``, a missing topic is never created by asking for it (the
broker's default partitions are not the topic's), and an unreachable broker or a missing
topic is retried with a warning until ``list_budget_s``; past it the worker stops with one
error naming the topic, the brokers and the last error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from bytewax.connectors.kafka import KafkaError, KafkaSource, KafkaSourceMessage
from bytewax.inputs import StatefulSourcePartition
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from mlbsts.telemetry.catalogue import CONSUMER_LAG
from mlbsts.telemetry.metrics import RECORDER
from mlbsts.telemetry.progress import INPUT, InputProgress

__all__ = ["LagWatcher", "ObservedKafkaSource", "PartitionListingError", "list_partitions"]

log = logging.getLogger(__name__)

Item = KafkaSourceMessage[bytes | None, bytes | None] | KafkaError[bytes | None, bytes | None]
LAG_EVERY_S = 5.0
WATERMARK_TIMEOUT_S = 2.0
LIST_TIMEOUT_S = 5.0  # one metadata request
LIST_BUDGET_S = 300.0  # how long the partitions are asked for (settings: sink_outage_budget_s)


class PartitionListingError(RuntimeError):
    """The brokers did not list a topic's partitions within the budget."""


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
    """``KafkaSource`` (same arguments) whose partitions report to ``progress``; its
    partitions are listed with ``admin`` settings within ``list_budget_s`` (module doc)."""

    def __init__(
        self,
        *args: Any,
        progress: InputProgress = INPUT,
        admin: Mapping[str, Any] | None = None,
        list_budget_s: float = LIST_BUDGET_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._progress = progress
        self._admin = dict(admin) if admin is not None else {}
        self._list_budget_s = list_budget_s

    def list_parts(self) -> list[str]:
        config = {
            "bootstrap.servers": ",".join(self._brokers),
            **self._admin,
            # a missing input topic is an error to report, never a topic to create with the
            # broker's default partitions (librdkafka's producer-type default asks to create)
            "allow.auto.create.topics": False,
        }
        client = AdminClient(config)
        return list_partitions(
            client, self._topics, self._list_budget_s, config["bootstrap.servers"]
        )

    def build_part(  # type: ignore[override]  # a wrapper, not Bytewax's private class
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _ObservedPartition:
        inner = super().build_part(step_id, for_part, resume_state)
        index, topic = for_part.split("-", 1)
        self._progress.polled(topic, int(index), resume_state)  # built: counts as a poll
        return _ObservedPartition(inner, topic, int(index), self._progress)


def list_partitions(
    client: AdminClient, topics: Iterable[str], budget_s: float, brokers: str = "?"
) -> list[str]:
    """Bytewax's partition names (``"<partition>-<topic>"``) of ``topics`` on ``brokers``
    (the client's), each topic asked for until ``budget_s`` has passed (module docstring)."""
    deadline = time.monotonic() + budget_s
    return [
        f"{i}-{topic}" for topic in topics for i in _partitions(client, topic, deadline, brokers)
    ]


def _partitions(client: AdminClient, topic: str, deadline: float, brokers: str) -> list[int]:
    attempt = 0
    while True:
        attempt += 1
        timeout = max(0.1, min(LIST_TIMEOUT_S, deadline - time.monotonic()))
        try:  # one topic per request, so a broker that auto-creates topics still may
            meta = client.list_topics(topic, timeout=timeout).topics[topic]
            if meta.error is None and meta.partitions:
                return sorted(meta.partitions)
            problem = meta.error.str() if meta.error is not None else "no partitions"
        except KafkaException as e:
            problem = str(e.args[0] if e.args else e)
        if time.monotonic() >= deadline:
            raise PartitionListingError(
                f"cannot list the partitions of topic {topic!r} on {brokers}: {problem} (asked "
                f"{attempt} times; is the broker up and `mlbsts init` run?)"
            )
        log.warning("partitions of topic %r not listed yet: %s; retrying", topic, problem)
        time.sleep(min(1.0 * attempt, 5.0, max(0.0, deadline - time.monotonic())))


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
