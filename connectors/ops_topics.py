"""The operations topics: ``mlb.storage.ops`` and ``mlb.system.health`` (docs/operating.md).

- ``OpsPublisher``: one small Kafka producer per process for both topics, bounded and
  never blocking. ``publish`` encodes (Avro, ``connectors.avro_serde.AvroCodec``) and hands
  the record to librdkafka's queue, at most ``MAX_QUEUED`` records; a full queue, a broker
  that does not acknowledge within ``DELIVERY_TIMEOUT_MS`` or a record it refuses drops the
  record: counted (``mlbsts_ops_records_total{outcome="dropped"}``) and warned about at
  most once a minute. An ops record is never worth holding back a sink or a process.
- ``STORAGE_OPS``: the process's reporter of committed sink batches. Until
  ``start_ops_topics`` installs a publisher it does nothing, so tests and replays that
  build sinks publish nothing. ``connectors.background_sink`` calls ``committed`` after
  each write that returned without error; the partition describes what it stored
  (``connectors.storage_ops``). Keyed by the store (``postgres``, ``s3``, ``redis``).
- ``start_ops_topics(settings, process, verdicts)``: once per process (worker, poller,
  API), installs the storage reporter (``MLBSTS_STORAGE_OPS_ENABLED``) and starts the
  health reporter (``mlbsts.telemetry.health_topic``) every ``MLBSTS_HEALTH_TOPIC_EVERY_S``.

Delivery is at most once (records dropped when the broker is away) and, around a worker's
resume, a batch written again is reported again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from connectors.avro_serde import AvroCodec, SerdeError
from connectors.kafka_io import producer_config
from connectors.schema_registry import SchemaRegistryError
from connectors.storage_ops import STORAGE_OPS
from connectors.topic_codecs import value_encoder
from mlbsts import topics
from mlbsts.settings import Settings
from mlbsts.telemetry.catalogue import OPS_RECORDS
from mlbsts.telemetry.health import Verdict
from mlbsts.telemetry.health_topic import HealthReporter, Instance, Verdicts
from mlbsts.telemetry.logs import Redactor, secrets_of
from mlbsts.telemetry.metrics import RECORDER
from mlbsts.telemetry.readiness import Readiness, postgres_check, redis_check

__all__ = [
    "OPS_RECORDS",
    "STORAGE_OPS",
    "OpsPublisher",
    "OpsTopics",
    "api_verdicts",
    "start_ops_topics",
]

log = logging.getLogger(__name__)

MAX_QUEUED = 1000  # records waiting in the producer before new ones are dropped
DELIVERY_TIMEOUT_MS = 30_000  # a record not acknowledged by then is dropped
WARN_EVERY_S = 60.0
#: the topics published here (their schemas: ``connectors.topic_codecs.SCHEMA_OF_TOPIC``)
OPS_TOPICS = (topics.STORAGE_OPS, topics.SYSTEM_HEALTH)


def ops_config(settings: Settings) -> dict[str, str | int | bool]:
    """The project's producer settings (brokers, security, compression), with a small
    queue and a short delivery timeout: what cannot be delivered soon is dropped."""
    return {
        **producer_config(settings),
        "enable.idempotence": False,
        "queue.buffering.max.messages": MAX_QUEUED,
        "queue.buffering.max.kbytes": 4096,
        "delivery.timeout.ms": DELIVERY_TIMEOUT_MS,
        "linger.ms": 50,
    }


class OpsPublisher:
    """Publishes ops records to their topics without ever blocking (module docstring)."""

    def __init__(
        self,
        config: Mapping[str, str | int | bool],
        codecs: Mapping[str, AvroCodec] | None = None,
        *,
        warn_every_s: float = WARN_EVERY_S,
    ) -> None:
        # None: each topic's encoder from connectors.topic_codecs, made on first use (with a
        # registry configured that asks the registry, which may be away: then a drop)
        self._codecs = dict(codecs) if codecs is not None else None
        self._producer = Producer(dict(config))
        self._warn_every_s = warn_every_s
        self._lock = threading.Lock()
        self._dropped_since_warning = 0
        self._last_warning = float("-inf")
        for topic in OPS_TOPICS:  # at 0 from the start: the first drop is an increase
            for outcome in ("published", "dropped"):
                RECORDER.add(OPS_RECORDS, 0, topic=topic, outcome=outcome)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ops-publisher", daemon=True)
        self._thread.start()

    def publish(self, topic: str, key: str, record: Mapping[str, Any]) -> bool:
        """Queue ``record`` for ``topic``; ``False`` when it was dropped at once."""
        try:
            codec = self._codecs[topic] if self._codecs is not None else value_encoder(topic)
            value = codec.encode(record)
            self._producer.produce(topic, value, key.encode(), on_delivery=self._delivered)
        except BufferError:
            self._drop(topic, "the queue is full")
            return False
        except (KafkaException, SerdeError, SchemaRegistryError, KeyError) as e:
            self._drop(topic, f"{type(e).__name__}: {e}")
            return False
        return True

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop serving delivery reports; wait up to ``timeout_s`` for what is queued."""
        self._stop.set()
        self._thread.join()
        self._producer.flush(timeout_s)

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.5)

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        topic = msg.topic() or "?"
        if err is None:
            RECORDER.add(OPS_RECORDS, topic=topic, outcome="published")
        else:
            self._drop(topic, err.str())

    def _drop(self, topic: str, why: str) -> None:
        RECORDER.add(OPS_RECORDS, topic=topic, outcome="dropped")
        now = time.monotonic()
        with self._lock:
            self._dropped_since_warning += 1
            if now - self._last_warning < self._warn_every_s:
                return
            dropped, self._dropped_since_warning = self._dropped_since_warning, 0
            self._last_warning = now
        log.warning("ops topics: %d record(s) dropped, the last to %s: %s", dropped, topic, why)


class OpsTopics:
    """What ``start_ops_topics`` started in this process."""

    def __init__(self, publisher: OpsPublisher, health: HealthReporter | None) -> None:
        self.publisher = publisher
        self.health = health

    def close(self) -> None:
        """Stop reporting (tests; a process just exits); ``start_ops_topics`` may start
        them again."""
        global _STARTED  # noqa: PLW0603 - one publisher per process, by design
        if self.health is not None:
            self.health.stop()
        STORAGE_OPS.install(None, "")
        self.publisher.close()
        with _START_LOCK:
            if _STARTED is self:
                _STARTED = None


_STARTED: OpsTopics | None = None
_START_LOCK = threading.Lock()


def start_ops_topics(
    settings: Settings, process: str, verdicts: Verdicts, *, version: str = "unknown"
) -> OpsTopics | None:
    """The ops topics of this process (module docstring); once per process, ``None`` when
    both are switched off. ``verdicts``: the process's (liveness, readiness) right now."""
    global _STARTED  # noqa: PLW0603 - one publisher per process, by design
    with _START_LOCK:
        if _STARTED is not None:
            return _STARTED
        every_s = settings.health_topic_every_s
        if not settings.storage_ops_enabled and every_s <= 0:
            return None
        instance = Instance.here(process)
        publisher = OpsPublisher(ops_config(settings))
        if settings.storage_ops_enabled:
            STORAGE_OPS.install(publisher, instance.key)
        health = None
        if every_s > 0:

            def send(key: str, record: dict[str, Any]) -> None:
                publisher.publish(topics.SYSTEM_HEALTH, key, record)

            health = HealthReporter(instance, verdicts, send, every_s, version=version).start()
        _STARTED = OpsTopics(publisher, health)
        return _STARTED


def api_verdicts(settings: Settings) -> Verdicts:
    """The API process's verdicts: alive while it runs; ready when PostgreSQL and Redis
    answer (what its ``/readyz`` asks, here from the reporter's thread; errors redacted)."""
    checks = {
        "postgres": postgres_check(settings.postgres_dsn.get_secret_value()),
        "redis": redis_check(settings.redis_url),
    }
    ready = Readiness(checks, set(checks), redact=Redactor(secrets_of(settings)))

    def verdicts() -> tuple[Verdict, Verdict]:
        return Verdict(True, "the process runs"), ready()

    return verdicts
