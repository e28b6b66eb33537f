"""What a process records of its own progress, for its liveness and its metrics.

``INPUT``: the worker's input partitions in this process (the observed Kafka source calls
``polled`` after each poll and ``closed`` at the end; the lag watcher sets ``lag``).
``POLLER``: the poller's loop (``beat`` at each turn). Both are process-wide, written by
the threads that make progress and read by the health server's thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from mlbsts.telemetry.catalogue import POLLER_TICK, WORKER_PROGRESS
from mlbsts.telemetry.health import InputPartition, progress_time
from mlbsts.telemetry.metrics import RECORDER

__all__ = ["INPUT", "POLLER", "Heartbeat", "InputProgress"]

Clock = Callable[[], float]


@dataclass(frozen=True)
class _Owned:
    topic: str
    partition: int
    next_offset: int | None


class InputProgress:
    """The input partitions this process reads: next offset, last poll, lag."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._parts: dict[tuple[str, int], InputPartition] = {}

    def polled(self, topic: str, partition: int, next_offset: int | None) -> None:
        """The worker polled ``partition``; ``next_offset``: where it reads next
        (``None`` or negative: not read yet)."""
        offset = next_offset if next_offset is not None and next_offset >= 0 else None
        now = self._clock()
        with self._lock:
            old = self._parts.get((topic, partition))
            lag = old.lag if old is not None else None
            self._parts[(topic, partition)] = InputPartition(topic, partition, offset, now, lag)

    def closed(self, topic: str, partition: int) -> None:
        with self._lock:
            self._parts.pop((topic, partition), None)

    def set_lag(self, topic: str, partition: int, lag: int | None) -> None:
        with self._lock:
            old = self._parts.get((topic, partition))
            if old is not None:
                self._parts[(topic, partition)] = replace(old, lag=lag)

    def owned(self) -> list[tuple[str, int, int | None]]:
        """(topic, partition, next offset) of every partition read here."""
        with self._lock:
            return [(p.topic, p.partition, p.next_offset) for p in self._parts.values()]

    def partitions(self) -> list[InputPartition]:
        with self._lock:
            return list(self._parts.values())

    def progress_time(self) -> float:
        return progress_time(self._clock(), self.partitions())

    def clear(self) -> None:
        with self._lock:
            self._parts.clear()


class Heartbeat:
    """The poller's loop: when it started and last turned."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self.started = clock()
        self.last: float | None = None

    def beat(self) -> None:
        self.last = self._clock()
        RECORDER.set(POLLER_TICK, self.last)


INPUT = InputProgress()
POLLER = Heartbeat()


def observe_worker_progress() -> None:
    """Export ``mlbsts_worker_progress_timestamp_seconds`` from ``INPUT``."""
    RECORDER.observe(WORKER_PROGRESS, INPUT.progress_time)
