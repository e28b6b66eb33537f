"""What the poller's runner (:mod:`ingest.runner`) is told and what it reports: its clock
(``ScaledClock``: replays run faster), its options and its counters."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from ingest.policy import Cadence, GameTrack

TrackKey = tuple[int, date]


class Clock(Protocol):
    speed: float

    def now(self) -> datetime: ...


class ScaledClock:
    """UTC now, advancing ``speed`` times faster than the wall clock from construction;
    ``start`` (replay only): the instant it reads at construction, else the real now."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        self.speed = speed
        self._t0 = start or datetime.now(UTC)
        self._m0 = time.monotonic()

    def now(self) -> datetime:
        return self._t0 + timedelta(seconds=(time.monotonic() - self._m0) * self.speed)


@dataclass(frozen=True, slots=True)
class IngestOptions:
    snapshots_topic: str
    schedules_topic: str
    days: tuple[date, ...] = ()  # empty: today (America/New_York), rolling
    until_final: bool = False
    cadence: Cadence = field(default_factory=Cadence)
    max_parallel: int = 8
    use_diff_patch: bool = True
    every_timecode: bool = False
    max_runtime_s: float | None = None
    stop_at: datetime | None = None  # stop when the runner's clock passes it (replays, tests)
    publish_backoff_cap_s: float = 30.0


@dataclass
class IngestStats:
    polls: int = 0
    published: int = 0
    unchanged: int = 0
    patches_applied: int = 0
    patch_fallbacks: int = 0
    api_failures: int = 0
    schedules_published: int = 0
    schedule_failures: int = 0
    poll_errors: int = 0
    publish_retries: int = 0
    tracks: dict[TrackKey, GameTrack] = field(default_factory=dict)
