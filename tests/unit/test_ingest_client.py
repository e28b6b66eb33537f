"""The MLB API client on an httpx.MockTransport: retry classification, Retry-After,
circuit breaker, envelope timing. Sleeps are recorded, not slept."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime
from typing import Any

import httpx
import orjson
import pytest

from ingest import mlb_api
from ingest.mlb_api import (
    CircuitOpenError,
    ClientConfig,
    MlbApiClient,
    MlbApiStatusError,
    MlbApiUnavailableError,
)
from mlbsts.settings import Settings

pytestmark = pytest.mark.unit


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def run(handler: Any, call: Any, **config: Any) -> tuple[Any, list[httpx.Request], FakeTime]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        response: httpx.Response = handler(request, len(seen))
        return response

    clock = FakeTime()
    cfg = ClientConfig.from_settings(
        Settings(), base_url="http://mlb.test", rate_per_s=1000, burst=1000, **config
    )

    async def main() -> Any:
        async with MlbApiClient(
            cfg,
            transport=httpx.MockTransport(record),
            sleep=clock.sleep,
            monotonic=clock.monotonic,
            rand=random.Random(0),
        ) as api:
            try:
                return await call(api)
            except Exception as e:  # returned for inspection
                return e

    return asyncio.run(main()), seen, clock


FEED = {"gamePk": 1, "metaData": {"wait": 10, "timeStamp": "20240101_000000"}}


def ok(_: httpx.Request, __: int) -> httpx.Response:
    return httpx.Response(200, content=orjson.dumps(FEED))


def test_404_is_never_retried() -> None:
    result, seen, clock = run(lambda r, n: httpx.Response(404), lambda a: a.feed_live(1))
    assert isinstance(result, MlbApiStatusError) and result.status_code == 404
    assert len(seen) == 1 and clock.sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403, 410, 422])
def test_other_4xx_are_not_retried(status: int) -> None:
    result, seen, _ = run(lambda r, n: httpx.Response(status), lambda a: a.timestamps(1))
    assert isinstance(result, MlbApiStatusError) and len(seen) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_then_succeeds(status: int) -> None:
    def handler(r: httpx.Request, n: int) -> httpx.Response:
        return httpx.Response(status) if n <= 2 else ok(r, n)

    result, seen, clock = run(handler, lambda a: a.feed_live(1), backoff_base_s=1.0)
    assert result.feed == FEED and len(seen) == 3
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 1.0 and 0 <= clock.sleeps[1] <= 2.0  # exponential ceiling


def test_429_honours_retry_after() -> None:
    def handler(r: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(429, headers={"Retry-After": "7"})
        return ok(r, n)

    result, seen, clock = run(handler, lambda a: a.feed_live(1), backoff_base_s=0.1)
    assert result.feed == FEED and len(seen) == 2 and clock.sleeps == [7.0]


def test_connection_errors_and_timeouts_are_retried_then_give_up() -> None:
    def handler(r: httpx.Request, n: int) -> httpx.Response:
        if n % 2:
            raise httpx.ConnectError("refused", request=r)
        raise httpx.ReadTimeout("slow", request=r)

    result, seen, clock = run(
        handler, lambda a: a.feed_live(1), max_attempts=4, breaker_threshold=100
    )
    assert isinstance(result, MlbApiUnavailableError) and len(seen) == 4
    assert len(clock.sleeps) == 3 and "ReadTimeout" in result.cause


def test_breaker_opens_and_refuses_without_requests() -> None:
    async def calls(api: MlbApiClient) -> list[Exception]:
        out: list[Exception] = []
        for _ in range(5):
            try:
                await api.timestamps(1)
            except Exception as e:
                out.append(e)
        return out

    result, seen, _ = run(
        lambda r, n: httpx.Response(503),
        calls,
        max_attempts=2,
        breaker_threshold=3,
        breaker_reset_s=60,
    )
    assert len(seen) == 3  # 2 attempts, then 1 attempt that opens the breaker
    assert isinstance(result[0], MlbApiUnavailableError)
    assert all(isinstance(e, CircuitOpenError) for e in result[1:])
    assert 0 < result[-1].retry_in <= 60


def test_feed_wait_is_the_minimum_gap_between_polls_of_a_game() -> None:
    async def two_polls(api: MlbApiClient) -> None:
        await api.feed_live(1)
        await api.feed_live(1)
        await api.feed_live(1, timecode="20240101_000000")  # history, not a poll: no wait

    _, seen, clock = run(ok, two_polls)
    assert len(seen) == 3 and clock.sleeps == [10.0]


def test_envelope_captured_before_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[datetime] = []

    def handler(r: httpx.Request, n: int) -> httpx.Response:
        sent.append(datetime.now(UTC))
        return ok(r, n)

    result, _, _ = run(handler, lambda a: a.feed_live(1))
    env = result.envelope
    assert env.captured_at <= sent[0] <= env.ingested_at
    assert env.gamePk == 1 and env.feed_timestamp == "20240101_000000"
    assert env.source_url == "http://mlb.test/api/v1.1/game/1/feed/live"


def test_schedule_uses_cache_when_present() -> None:
    class DictCache:
        def __init__(self) -> None:
            self.data: dict[str, bytes] = {}

        async def get(self, key: str) -> bytes | None:
            return self.data.get(key)

        async def set(self, key: str, value: bytes) -> None:
            self.data[key] = value

    cache = DictCache()
    body = orjson.dumps({"dates": [{"date": "2024-07-01", "games": [{"gamePk": 5}]}]})
    seen: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        return httpx.Response(200, content=body)

    async def main() -> tuple[bool, bool]:
        async with MlbApiClient(
            ClientConfig.from_settings(Settings(), base_url="http://mlb.test"),
            transport=httpx.MockTransport(handler),
            cache=cache,
        ) as api:
            first = await api.schedule(date(2024, 7, 1))
            second = await api.schedule(date(2024, 7, 1))
            assert second.games() == [(date(2024, 7, 1), {"gamePk": 5})]
            return first.from_cache, second.from_cache

    assert asyncio.run(main()) == (False, True) and len(seen) == 1


def test_public_names() -> None:
    assert set(mlb_api.__all__) == {
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
    }


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (lambda r: httpx.DecodingError("bad gzip", request=r), mlb_api.MlbApiError),
        (lambda r: httpx.TooManyRedirects("loop", request=r), mlb_api.MlbApiError),
        (lambda r: RuntimeError("transport bug"), RuntimeError),
    ],
    ids=["decoding", "redirects", "other"],
)
def test_any_trial_outcome_releases_the_half_open_breaker(error: Any, raised: type) -> None:
    """Two 503s open the breaker; after the cool-down the trial ends in an error that is
    neither a timeout nor a transport error: the next call must still get through."""

    def handler(r: httpx.Request, n: int) -> httpx.Response:
        if n <= 2:
            return httpx.Response(503)
        if n == 3:
            raise error(r)
        return httpx.Response(200, content=b'["20240101_000000"]')

    async def calls(api: MlbApiClient) -> list[object]:
        out: list[object] = []
        for _ in range(2):
            with pytest.raises(MlbApiUnavailableError):
                await api.timestamps(1)
        api._monotonic = lambda: 1000.0  # the cool-down has passed
        for _ in range(2):
            try:
                out.append(await api.timestamps(1))
            except Exception as e:
                out.append(e)
        return out

    result, seen, _ = run(handler, calls, max_attempts=1, breaker_threshold=2, breaker_reset_s=60)
    assert len(seen) == 4, result  # the trial, then a call that was let through
    assert isinstance(result[0], raised)  # httpx errors wrapped: they say which URL
    assert result[1] == ["20240101_000000"]


def test_a_non_json_answer_is_a_decode_error() -> None:
    result, seen, _ = run(
        lambda r, n: httpx.Response(200, content=b"<html>maintenance</html>"),
        lambda a: a.timestamps(1),
    )
    assert isinstance(result, mlb_api.MlbApiDecodeError) and len(seen) == 1
