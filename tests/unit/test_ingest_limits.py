"""Rate limiter math, breaker states, backoff and retry classification (fake clock)."""

from __future__ import annotations

import random

import pytest

from ingest.limits import (
    BreakerState,
    CircuitBreaker,
    TokenBucket,
    backoff_delay,
    is_retryable_status,
)

pytestmark = pytest.mark.unit


def test_bucket_allows_burst_then_spaces_requests_at_rate() -> None:
    bucket = TokenBucket(rate=4.0, burst=2)
    assert [bucket.reserve(0.0) for _ in range(2)] == [0.0, 0.0]
    # queued reservations: the 3rd waits 1/4 s, the 4th 2/4 s, ...
    assert [bucket.reserve(0.0) for _ in range(3)] == pytest.approx([0.25, 0.5, 0.75])


def test_bucket_refills_but_never_above_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    for _ in range(3):
        bucket.reserve(0.0)
    assert bucket.reserve(0.5) == 0.0  # one token back after 0.5 s
    assert bucket.reserve(100.0) == 0.0
    assert bucket.tokens == pytest.approx(2.0)  # refilled to 3, one taken


@pytest.mark.parametrize(("rate", "burst", "n"), [(5.0, 1, 50), (20.0, 5, 200), (0.5, 2, 10)])
def test_bucket_long_run_rate_is_bounded(rate: float, burst: int, n: int) -> None:
    """Schedule n requests as fast as allowed: any window of the grants holds at most
    burst + rate * window requests."""
    bucket = TokenBucket(rate=rate, burst=burst)
    now = 0.0
    grants: list[float] = []
    for _ in range(n):
        now += bucket.reserve(now)
        grants.append(now)
    span = grants[-1] - grants[0]
    assert n <= burst + rate * span + 1e-9
    assert span == pytest.approx((n - burst) / rate)


def test_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0.0, burst=1)


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (200, False),
        (304, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (410, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_retry_classification(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


def test_backoff_is_exponential_capped_jittered_and_honours_retry_after() -> None:
    rand = random.Random(1)
    for attempt in range(1, 10):
        ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, base_s=0.5, cap_s=8.0, rand=rand) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # full jitter spans the range
    assert backoff_delay(1, base_s=0.5, cap_s=8.0, retry_after_s=3.0, rand=rand) >= 3.0


def test_breaker_opens_after_threshold_and_half_opens_after_reset() -> None:
    breaker = CircuitBreaker(threshold=3, reset_after_s=10.0)
    for t in range(3):
        assert breaker.allow(float(t))
        breaker.record_failure(float(t))
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(5.0)
    assert not breaker.allow(11.9)
    assert breaker.allow(12.0)  # trial
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(12.1)  # one trial at a time
    breaker.record_failure(12.2)  # trial failed: open again
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(20.0)
    assert breaker.allow(22.2)
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow(22.3)


def test_breaker_success_resets_failure_count() -> None:
    breaker = CircuitBreaker(threshold=2, reset_after_s=1.0)
    breaker.record_failure(0.0)
    breaker.record_success()
    breaker.record_failure(0.1)
    assert breaker.state is BreakerState.CLOSED


def test_release_frees_the_half_open_trial_without_a_verdict() -> None:
    breaker = CircuitBreaker(threshold=1, reset_after_s=10)
    breaker.record_failure(0.0)
    assert breaker.allow(10.0)  # the trial
    assert not breaker.allow(10.0)  # one trial at a time
    breaker.release()
    assert breaker.state is BreakerState.HALF_OPEN and breaker.failures == 1
    assert breaker.allow(10.0)
