"""The poller's Kafka edge: publishing snapshots and schedules, each batch acknowledged, and
retried with backoff while the broker is away (nothing lost, the poller never stops for it)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Protocol

from confluent_kafka import KafkaException, Producer
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from connectors.kafka_io import KafkaDeliveryError, OutRecord, produce_all, producer_config
from ingest.limits import backoff_delay
from mlbsts.settings import Settings

log = logging.getLogger(__name__)

BROKER_ERRORS = (KafkaDeliveryError, KafkaException, BufferError)
LOUD_EVERY = 10  # while the broker stays away, one warning per this many failed attempts


class Publisher(Protocol):
    async def publish(self, records: list[OutRecord]) -> None: ...


class KafkaPublisher:
    """Publishes batches through one idempotent producer, one batch at a time (so records
    of one game keep their order), each acknowledged before ``publish`` returns. A batch
    that failed is purged from the producer before the error propagates, so a retry does
    not leave a second copy queued behind it."""

    def __init__(self, settings: Settings) -> None:
        self._producer = Producer(producer_config(settings))
        self._lock = asyncio.Lock()
        self.count = 0

    async def publish(self, records: list[OutRecord]) -> None:
        async with self._lock:
            try:
                self.count += await asyncio.to_thread(produce_all, self._producer, records)
            except BROKER_ERRORS:
                self._producer.purge()
                self._producer.flush(0)
                raise

    def close(self) -> None:
        self._producer.flush(30)


class RetryingPublisher:
    """``publish`` retried with exponential backoff and full jitter (``backoff_delay``) until
    the broker takes the batch: a warning when the broker goes, one per ``LOUD_EVERY``
    attempts while it stays away, and one when it is back. Only broker errors are retried."""

    def __init__(
        self,
        inner: Publisher,
        *,
        base_s: float = 0.5,
        cap_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: random.Random | None = None,
    ) -> None:
        self._inner = inner
        self._base_s = base_s
        self._cap_s = cap_s
        self._sleep = sleep
        self._rand = rand or random.Random()
        self.retries = 0

    async def publish(self, records: list[OutRecord]) -> None:
        retrying = AsyncRetrying(
            wait=self._wait,
            retry=retry_if_exception_type(BROKER_ERRORS),
            sleep=self._sleep,
            before_sleep=self._complain,
            reraise=True,
        )
        attempts = 0
        async for attempt in retrying:
            with attempt:
                attempts += 1
                await self._inner.publish(records)
        if attempts > 1:
            log.warning(
                "broker back: %d records published after %d attempts", len(records), attempts
            )

    def _wait(self, state: RetryCallState) -> float:
        return backoff_delay(
            state.attempt_number, base_s=self._base_s, cap_s=self._cap_s, rand=self._rand
        )

    def _complain(self, state: RetryCallState) -> None:
        self.retries += 1
        error = state.outcome.exception() if state.outcome is not None else None
        n = state.attempt_number
        level = logging.WARNING if n == 1 or n % LOUD_EVERY == 0 else logging.DEBUG
        log.log(
            level, "publish failed (attempt %d), retrying until the broker is back: %s", n, error
        )
