"""The poller's Kafka edge: publishing snapshots and schedules, each batch acknowledged."""

from __future__ import annotations

import asyncio

from confluent_kafka import Producer

from connectors.kafka_io import OutRecord, produce_all, producer_config
from mlbsts.settings import Settings


class KafkaPublisher:
    """Publishes batches through one idempotent producer, one batch at a time (so records
    of one game keep their order), each acknowledged before ``publish`` returns."""

    def __init__(self, settings: Settings) -> None:
        self._producer = Producer(producer_config(settings))
        self._lock = asyncio.Lock()
        self.count = 0

    async def publish(self, records: list[OutRecord]) -> None:
        async with self._lock:
            self.count += await asyncio.to_thread(produce_all, self._producer, records)

    def close(self) -> None:
        self._producer.flush(30)
