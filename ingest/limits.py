"""How hard the poller may hit the MLB Stats API: pure, clock-passed policies.

- ``TokenBucket``: at most ``rate`` requests per second on average, bursts of ``burst``.
- ``CircuitBreaker``: after ``threshold`` consecutive failed attempts, refuse calls for
  ``reset_after_s``; then let one trial through (half-open): success closes, failure reopens,
  any other outcome (an error that says nothing of the host's health) releases the
  trial (``release``) so the next call may try.
- ``backoff_delay``: exponential backoff with full jitter, raised to ``Retry-After``.
- ``is_retryable_status``: 429 and 5xx are transient; any other status is an answer.

Every function takes ``now`` (seconds on a monotonic clock) instead of reading a clock, so
the arithmetic is tested exactly with a fake clock; the HTTP client supplies real time.
(Libraries considered: ``aiolimiter`` reads the event loop's clock and exposes no
reservation arithmetic; ``aiobreaker`` has not been released since 2021.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum


def is_retryable_status(status: int) -> bool:
    """429 (rate limited) and 5xx are worth retrying; 404 and other 4xx never are."""
    return status == 429 or 500 <= status <= 599


def backoff_delay(
    attempt: int,
    *,
    base_s: float,
    cap_s: float,
    retry_after_s: float | None = None,
    rand: random.Random | None = None,
) -> float:
    """Delay before retry ``attempt`` (1 = first retry): full jitter over
    ``min(cap, base * 2**(attempt-1))``, never less than the server's ``Retry-After``."""
    ceiling = min(cap_s, base_s * (2 ** max(0, attempt - 1)))
    delay = (rand or random).uniform(0.0, ceiling)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay


@dataclass
class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; starts full."""

    rate: float
    burst: float
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        if self.updated is None or now > self.updated:
            self.updated = now

    def reserve(self, now: float) -> float:
        """Take one token; return how long the caller must wait before using it (0 = now).

        Reservations queue: the bucket may go negative, and each later caller waits for
        its own token, so concurrent callers together never exceed the rate."""
        self._refill(now)
        self.tokens -= 1.0
        if self.tokens >= 0:
            return 0.0
        return -self.tokens / self.rate


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class CircuitBreaker:
    """Consecutive-failure breaker (see module doc)."""

    threshold: int
    reset_after_s: float
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    _trial_out: bool = False

    def retry_at(self) -> float:
        """When an open breaker lets the next trial through."""
        return self.opened_at + self.reset_after_s

    def allow(self, now: float) -> bool:
        """May a request go out now? (In half-open, only one trial at a time.)"""
        if self.state is BreakerState.OPEN:
            if now < self.retry_at():
                return False
            self.state = BreakerState.HALF_OPEN
            self._trial_out = False
        if self.state is BreakerState.HALF_OPEN:
            if self._trial_out:
                return False
            self._trial_out = True
        return True

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._trial_out = False

    def release(self) -> None:
        """The call ended without a verdict on the host (neither success nor failure): free
        the half-open trial slot, leave the state and the failure count as they are."""
        self._trial_out = False

    def record_failure(self, now: float) -> None:
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self.state = BreakerState.OPEN
            self.opened_at = now
            self._trial_out = False
