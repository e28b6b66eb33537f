"""Async client of the MLB Stats API: schedule, feed/live, timestamps, diffPatch.

Polite by construction: a token bucket per host (``ingest.limits.TokenBucket``),
the feed's ``metaData.wait`` as the minimum gap between two polls of one game, retries
with exponential backoff and full jitter on timeouts, connection errors, 429 (honouring
``Retry-After``) and 5xx only, and a circuit breaker per host so an outage is waited out
instead of hammered (``mlbsts_breaker_open``, ``mlbsts_rate_limit_wait_seconds``). The
transport is injectable (``httpx.MockTransport`` in tests).
Every feed response is wrapped in a ``SnapshotEnvelope`` whose ``captured_at`` is taken
*before* the request went out. Schedules may be cached (``ingest.schedule_cache``).

Exceptions::

    MlbApiError                   base; says which URL (also an httpx error that says
                                  nothing of the host's health: DecodingError, redirects)
    ├── MlbApiStatusError         a non-retryable answer (404 and other 4xx); .status_code
    ├── MlbApiDecodeError         a 2xx body that is not the JSON expected
    └── MlbApiUnavailableError         transient failures outlasted the retries; .cause
        └── CircuitOpenError      refused without a request: the host's breaker is open;
                                  .retry_in (seconds until a trial is allowed)
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from flows.game.envelope import SnapshotEnvelope, make_envelope
from flows.game.feed_views import poller_view
from ingest.limits import (
    BreakerState,
    CircuitBreaker,
    TokenBucket,
    backoff_delay,
    is_retryable_status,
)
from mlbsts.settings import Settings
from mlbsts.telemetry.catalogue import BREAKER_OPEN, RATE_LIMIT_WAIT
from mlbsts.telemetry.metrics import RECORDER

__all__ = [
    "CircuitOpenError",
    "ClientConfig",
    "FeedResponse",
    "MlbApiClient",
    "MlbApiDecodeError",
    "MlbApiError",
    "MlbApiStatusError",
    "MlbApiUnavailableError",
    "ScheduleCache",
    "ScheduleResponse",
]

log = logging.getLogger(__name__)


class MlbApiError(Exception):
    """Base of the client's errors."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(f"{message} ({url})")
        self.url = url


class MlbApiStatusError(MlbApiError):
    def __init__(self, status_code: int, url: str) -> None:
        super().__init__(f"HTTP {status_code}", url)
        self.status_code = status_code


class MlbApiDecodeError(MlbApiError):
    pass


class MlbApiUnavailableError(MlbApiError):
    def __init__(self, message: str, url: str, cause: str = "") -> None:
        super().__init__(message, url)
        self.cause = cause


class CircuitOpenError(MlbApiUnavailableError):
    def __init__(self, url: str, retry_in: float) -> None:
        super().__init__(f"circuit open, next trial in {retry_in:.1f}s", url, "circuit open")
        self.retry_in = retry_in


class _TransientError(Exception):
    """One failed attempt worth retrying (internal)."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after


class ScheduleCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """How the client talks to the API. Build it with ``from_settings``: the ``mlb_api_*``
    settings are the one source of its defaults."""

    base_url: str
    rate_per_s: float
    burst: int
    timeout_s: float
    max_attempts: int
    backoff_base_s: float
    backoff_cap_s: float
    breaker_threshold: int
    breaker_reset_s: float
    time_scale: float = 1.0  # replay: feed waits are divided by this

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ClientConfig:
        """The ``mlb_api_*`` settings, with each override that is not ``None`` in place."""
        values: dict[str, Any] = {
            "base_url": settings.mlb_api_base_url,
            "rate_per_s": settings.mlb_api_rate_per_s,
            "burst": settings.mlb_api_burst,
            "timeout_s": settings.mlb_api_timeout_s,
            "max_attempts": settings.mlb_api_max_attempts,
            "backoff_base_s": settings.mlb_api_backoff_base_s,
            "backoff_cap_s": settings.mlb_api_backoff_cap_s,
            "breaker_threshold": settings.mlb_api_breaker_threshold,
            "breaker_reset_s": settings.mlb_api_breaker_reset_s,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ScheduleResponse:
    day: date
    body: bytes
    data: dict[str, Any]
    from_cache: bool

    def games(self) -> list[tuple[date, dict[str, Any]]]:
        """Each game with the date it is listed under."""
        return [
            (date.fromisoformat(str(d["date"])), g)
            for d in self.data.get("dates", [])
            for g in d.get("games", [])
        ]


@dataclass(frozen=True, slots=True)
class FeedResponse:
    envelope: SnapshotEnvelope
    feed: dict[str, Any]


class MlbApiClient:
    """One per process; ``async with MlbApiClient(config) as api: ...``."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        cache: ScheduleCache | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rand: random.Random | None = None,
    ) -> None:
        self.config = config
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            transport=transport,
            timeout=config.timeout_s,
            headers={"User-Agent": "mlbsts-ingest/0.1"},
        )
        self._cache = cache
        self._sleep = sleep
        self._monotonic = monotonic
        self._rand = rand or random.Random()
        self._buckets: dict[str, TokenBucket] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._game_next: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> MlbApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # endpoints

    async def schedule(self, day: date) -> ScheduleResponse:
        path = f"/api/v1/schedule?sportId=1&date={day.isoformat()}"
        key = f"mlbsts:schedule:{urlsplit(self.config.base_url).netloc}:{day.isoformat()}"
        if self._cache is not None:
            cached = await self._cache.get(key)
            if cached is not None:
                return ScheduleResponse(day, cached, self._decode(cached, path), True)
        response = await self._get(path)
        data = self._decode(response.content, path)
        if self._cache is not None:
            await self._cache.set(key, response.content)
        return ScheduleResponse(day, response.content, data, False)

    async def feed_live(self, game_pk: int, timecode: str | None = None) -> FeedResponse:
        """The feed now (a poll: waits out the game's ``metaData.wait``), or at a timecode."""
        path = f"/api/v1.1/game/{game_pk}/feed/live"
        if timecode is None:
            await self._game_gap(game_pk)
        else:
            path += f"?timecode={timecode}"
        captured_at = datetime.now(UTC)
        response = await self._get(path)
        feed = self._decode(response.content, path)
        self._note_wait(game_pk, feed)
        envelope = make_envelope(
            game_pk=game_pk,
            body=response.content,
            source_url=str(response.url),
            status_code=response.status_code,
            captured_at=captured_at,
            feed=feed,
        )
        return FeedResponse(envelope, feed)

    async def timestamps(self, game_pk: int) -> list[str]:
        """The timecodes at which the feed changed (a poll: waits out ``metaData.wait``)."""
        path = f"/api/v1.1/game/{game_pk}/feed/live/timestamps"
        await self._game_gap(game_pk)
        response = await self._get(path)
        try:
            data = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError as e:
            raise MlbApiDecodeError(f"timestamps body is not JSON: {e}", path) from e
        if not isinstance(data, list) or not all(isinstance(t, str) for t in data):
            raise MlbApiDecodeError("timestamps is not a list of timecodes", path)
        return data

    async def diff_patch(
        self, game_pk: int, start: str, end: str
    ) -> tuple[Any, datetime, str, int]:
        """The raw diffPatch answer (ops list or full feed) with captured_at, URL, status."""
        path = (
            f"/api/v1.1/game/{game_pk}/feed/live/diffPatch?startTimecode={start}&endTimecode={end}"
        )
        captured_at = datetime.now(UTC)
        response = await self._get(path)
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError as e:
            raise MlbApiDecodeError(f"diffPatch body is not JSON: {e}", path) from e
        return answer, captured_at, str(response.url), response.status_code

    def feed_wait_done(self, game_pk: int) -> None:
        """Forget a game's poll gap (the game ended)."""
        self._game_next.pop(game_pk, None)

    # machinery

    def _decode(self, body: bytes, path: str) -> dict[str, Any]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise MlbApiDecodeError(f"body is not JSON: {e}", path) from e
        if not isinstance(data, dict):
            raise MlbApiDecodeError("body is not a JSON object", path)
        return data

    def _note_wait(self, game_pk: int, feed: dict[str, Any]) -> None:
        wait = poller_view(feed).metaData.wait_seconds  # None unless a JSON number
        if wait is not None and wait > 0:
            gap = wait / self.config.time_scale
            self._game_next[game_pk] = max(
                self._game_next.get(game_pk, 0.0), self._monotonic() + gap
            )

    async def _game_gap(self, game_pk: int) -> None:
        due = self._game_next.get(game_pk)
        if due is not None:
            delay = due - self._monotonic()
            if delay > 0:
                await self._sleep(delay)

    async def _get(self, path: str) -> httpx.Response:
        host = urlsplit(self.config.base_url).netloc
        url = f"{self.config.base_url}{path}"
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.max_attempts),
            wait=self._retry_wait,
            retry=retry_if_exception_type(_TransientError),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(host, path, url)
        except _TransientError as e:
            raise MlbApiUnavailableError(
                f"gave up after {self.config.max_attempts} attempts: {e.cause}", url, e.cause
            ) from e
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        retry_after = error.retry_after if isinstance(error, _TransientError) else None
        delay = backoff_delay(
            state.attempt_number,
            base_s=self.config.backoff_base_s,
            cap_s=self.config.backoff_cap_s,
            retry_after_s=retry_after,
            rand=self._rand,
        )
        log.info("retry %d of %s in %.2fs", state.attempt_number, error, delay)
        return delay

    async def _attempt(self, host: str, path: str, url: str) -> httpx.Response:
        breaker = self._breakers.setdefault(
            host, CircuitBreaker(self.config.breaker_threshold, self.config.breaker_reset_s)
        )
        async with self._lock:
            now = self._monotonic()
            allowed = breaker.allow(now)
            _note_breaker(host, breaker)
            if not allowed:
                raise CircuitOpenError(url, breaker.retry_at() - now)
            bucket = self._buckets.setdefault(
                host, TokenBucket(self.config.rate_per_s, self.config.burst)
            )
            delay = bucket.reserve(now)
        RECORDER.record(RATE_LIMIT_WAIT, delay)
        judged = False  # every outcome must settle the breaker: a trial never stays out
        try:
            if delay > 0:
                await self._sleep(delay)
            try:
                response = await self._http.get(path)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                judged = True
                self._failed(breaker)
                raise _TransientError(f"{type(e).__name__}: {e}") from e
            except httpx.HTTPError as e:  # DecodingError, TooManyRedirects: no verdict
                raise MlbApiError(f"{type(e).__name__}: {e}", url) from e
            judged = True
            if is_retryable_status(response.status_code):
                self._failed(breaker)
                raise _TransientError(f"HTTP {response.status_code}", _retry_after(response))
            breaker.record_success()
        finally:
            if not judged:
                breaker.release()
            _note_breaker(host, breaker)
        if response.status_code >= 400:
            raise MlbApiStatusError(response.status_code, url)
        return response

    def _failed(self, breaker: CircuitBreaker) -> None:
        breaker.record_failure(self._monotonic())
        if breaker.state == "open":
            log.warning("circuit open for %s: %d failures", self.config.base_url, breaker.failures)


def _note_breaker(host: str, breaker: CircuitBreaker) -> None:
    RECORDER.set(BREAKER_OPEN, int(breaker.state is not BreakerState.CLOSED), host=host.lower())


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date: fall back to backoff
