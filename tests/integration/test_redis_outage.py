"""The Redis live-state sink never stops the pipeline (issue 15), on a real Redis.

Redis runs in a private stack of its own (Valkey at the dev port + 7000, its own folder),
so stopping it (``stack.down``) or hanging it (SIGSTOP) does not disturb the shared stack.
The sink's partition is driven directly, with a fake monotonic clock that paces its retry
backoff, so each ``write_batch`` here is one attempt or none, as the test says.

Redis refuses a value for real in two ways: the write script refuses a ``source_ts`` that
is not ``YYYYMMDD_HHMMSS`` (an error reply to that one call of the pipeline), and a value
longer than ``proto-max-bulk-len`` (set to its minimum, 1 MiB, with CONFIG SET) makes the
server answer "Protocol error: invalid bulk length" and close the connection; the client
mostly sees the reset while still sending (a ConnectionError), and Redis answers PING.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from connectors.redis_state import LIVE_SET_KEY, RedisLiveStateSink, game_key
from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.stats.live_box import LiveStats
from mlbsts import stack
from mlbsts.settings import Settings, get_settings
from mlbsts.stack import supervisor
from mlbsts.stack.redis import RedisServer
from tests.unit.test_stats_live_box import batches_of, run

pytestmark = pytest.mark.integration

PORT_OFFSET = -3000  # this test's private ports: dev - 3000
TIMEOUT_S = 1.0  # redis_timeout_s of the sink under test
MARGIN_S = 2.0  # scheduling slack over one timeout
LIVE_TTL_S = 3600
FINAL_TTL_S = 600
NEVER_S = 3600.0  # a catch-up interval no test reaches: the test paces every attempt


class Clock:
    """Monotonic seconds that the test moves past the sink's backoff."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now

    def skip_backoff(self) -> None:
        self.now += 60.0


@pytest.fixture(scope="module")
def redis_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    dev = get_settings()
    settings = Settings(
        stack_dir=tmp_path_factory.mktemp("redis-outage") / "stack",
        redis_url=f"redis://127.0.0.1:{dev.redis_port + PORT_OFFSET}/0",
        redis_timeout_s=TIMEOUT_S,
        redis_live_ttl_s=LIVE_TTL_S,
        redis_live_final_ttl_s=FINAL_TTL_S,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(supervisor, "SERVERS", (RedisServer(),))
        stack.down(settings, purge=True)
        assert stack.up(settings).healthy
        try:
            yield settings
        finally:
            stack.down(settings, purge=True)


@pytest.fixture
def client(redis_settings: Settings) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_settings.redis_url, socket_timeout=10)
    c.flushdb()
    yield c
    c.close()


@pytest.fixture(scope="module")
def base_state(fixture_feed: dict[str, Any]) -> LiveStats:
    _, out = run(batches_of(fixture_feed, 50))
    return next(s for s in reversed(out) if not s.is_final)


def at(base: LiveStats, pk: int, minute: int, **changes: Any) -> LiveStats:
    return msgspec.structs.replace(
        base, gamePk=pk, source_ts=f"20240701_19{minute:02d}00", **changes
    )


def stored_ts(c: redis.Redis, pk: int) -> str | None:
    raw = c.get(game_key(pk))
    return None if raw is None else str(msgspec.json.decode(raw)["source_ts"])


def redis_pid(settings: Settings) -> int:
    return int(json.loads(Path(settings.stack_dir, "pids", "redis.json").read_text())["pid"])


def timed(part: Any, items: list[LiveStats]) -> float:
    began = time.monotonic()
    part.write_batch(items)
    return time.monotonic() - began


def test_stopped_redis_never_raises_and_the_newest_states_catch_up(
    redis_settings: Settings,
    client: redis.Redis,
    base_state: LiveStats,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    sink = RedisLiveStateSink(redis_settings, clock=clock, catch_up_every_s=NEVER_S)
    part = sink.build("live_to_redis", 0, 1)
    try:
        part.write_batch([at(base_state, 1, 0)])
        assert stored_ts(client, 1) == "20240701_190000"
        stack.down(redis_settings)
        with caplog.at_level(logging.INFO, "connectors.redis_catchup"):
            waits = [timed(part, [at(base_state, 1, 1), at(base_state, 2, 1)])]
            clock.skip_backoff()
            waits.append(timed(part, [at(base_state, 1, 3), at(base_state, 3, 1)]))
            waits.append(timed(part, [at(base_state, 2, 2), at(base_state, 1, 2)]))
            assert max(waits) < TIMEOUT_S + MARGIN_S, waits
            assert stack.up(redis_settings).healthy
            clock.skip_backoff()
            part.write_batch([at(base_state, 4, 0)])
        assert [stored_ts(client, pk) for pk in (1, 2, 3, 4)] == [
            "20240701_190300",
            "20240701_190200",
            "20240701_190100",
            "20240701_190000",
        ]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, warnings
        assert f"{redis_settings.redis_url} unreachable (ConnectionError" in warnings[0]
        infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert any("is back after" in m and "caught up 4 games" in m for m in infos), infos
    finally:
        stack.up(redis_settings)
        part.close()


def test_hung_redis_costs_one_timeout_and_catches_up_after(
    redis_settings: Settings, client: redis.Redis, base_state: LiveStats
) -> None:
    clock = Clock()
    part = RedisLiveStateSink(redis_settings, clock=clock, catch_up_every_s=NEVER_S).build(
        "live_to_redis", 0, 1
    )
    pid = redis_pid(redis_settings)
    try:
        part.write_batch([at(base_state, 1, 0)])
        os.kill(pid, signal.SIGSTOP)
        try:
            first = timed(part, [at(base_state, 1, 1), at(base_state, 2, 1)])
            clock.skip_backoff()
            second = timed(part, [at(base_state, 2, 2)])
            within_backoff = timed(part, [at(base_state, 1, 2)])
        finally:
            os.kill(pid, signal.SIGCONT)
        assert max(first, second) < TIMEOUT_S + MARGIN_S, (first, second)
        assert min(first, second) >= 0.9 * TIMEOUT_S  # it did wait for a hung Redis
        assert within_backoff < TIMEOUT_S  # no attempt at all
        assert stored_ts(client, 1) == "20240701_190000"  # nothing written while hung
        clock.skip_backoff()
        part.write_batch([at(base_state, 3, 0)])
        assert [stored_ts(client, pk) for pk in (1, 2, 3)] == [
            "20240701_190200",
            "20240701_190200",
            "20240701_190000",
        ]
    finally:
        part.close()


def test_keys_expire_and_the_live_set_forgets_expired_games(
    redis_settings: Settings, client: redis.Redis, base_state: LiveStats
) -> None:
    part = RedisLiveStateSink(redis_settings).build("live_to_redis", 0, 1)
    now = int(client.time()[0])
    client.sadd(LIVE_SET_KEY, 99)  # the plain set of before: replaced at the first write
    try:
        part.write_batch([at(base_state, 5, 0)])
        assert client.type(LIVE_SET_KEY) == b"zset"
        client.zadd(LIVE_SET_KEY, {"111": now - LIVE_TTL_S - 5, "222": now - 60})
        final = at(base_state, 6, 0, abstractGameState="Final")
        part.write_batch([at(base_state, 7, 0), final])
        assert LIVE_TTL_S - 5 < client.ttl(game_key(7)) <= LIVE_TTL_S
        assert FINAL_TTL_S - 5 < client.ttl(game_key(6)) <= FINAL_TTL_S
        members = dict(client.zrange(LIVE_SET_KEY, 0, -1, withscores=True))
        assert set(members) == {b"5", b"7", b"222"}  # 111 expired, 6 is Final, 99 gone
        assert now - 5 <= members[b"7"] <= now + 5

        client.expire(game_key(5), 100)
        client.zadd(LIVE_SET_KEY, {"5": now - 1000})
        part.write_batch([at(base_state, 5, 1)])  # every update renews both
        assert LIVE_TTL_S - 5 < client.ttl(game_key(5)) <= LIVE_TTL_S
        assert (client.zscore(LIVE_SET_KEY, 5) or 0) >= now - 5
    finally:
        part.close()


def test_values_redis_refuses_become_dead_letters(
    redis_settings: Settings, client: redis.Redis, base_state: LiveStats
) -> None:
    letters: list[DeadLetter] = []
    part = RedisLiveStateSink(redis_settings, letters.append).build("live_to_redis", 0, 1)
    malformed = msgspec.structs.replace(base_state, gamePk=2, source_ts="2024-07-01 19:00")
    huge = at(base_state, 12, 0, box={"pad": "x" * (1024 * 1024 + 1)})
    limit = client.config_get("proto-max-bulk-len")["proto-max-bulk-len"]
    client.config_set("proto-max-bulk-len", 1024 * 1024)
    try:
        part.write_batch([at(base_state, 1, 0), malformed, at(base_state, 3, 0)])
        part.write_batch([at(base_state, 11, 0), huge, at(base_state, 13, 0)])
    finally:
        client.config_set("proto-max-bulk-len", limit)
        part.close()
    assert [stored_ts(client, pk) for pk in (1, 2, 3, 11, 12, 13)] == [
        "20240701_190000",
        None,
        "20240701_190000",
        "20240701_190000",
        None,
        "20240701_190000",
    ]
    assert [(d.error_class, d.gamePk) for d in letters] == [
        (ErrorClass.REDIS_REJECTED, 2),
        (ErrorClass.REDIS_REJECTED, 12),
    ]
    assert "source_ts 2024-07-01 19:00 is not YYYYMMDD_HHMMSS" in letters[0].reason
    assert letters[0].original_value == msgspec.json.encode(malformed)
    assert "live state 20240701_190000 of game 12 refused by Redis" in letters[1].reason
    assert letters[1].original_value == msgspec.json.encode(huge)


def test_pending_states_reach_redis_without_new_items(
    redis_settings: Settings, client: redis.Redis, base_state: LiveStats
) -> None:
    """A game that ends while Redis is away gets no more items: the partition's own
    catch-up thread writes its newest state once Redis is back."""
    sink = RedisLiveStateSink(redis_settings, catch_up_every_s=0.2)
    part = sink.build("live_to_redis", 0, 1)
    try:
        stack.down(redis_settings)
        part.write_batch([at(base_state, 5, 7)])
        assert stack.up(redis_settings).healthy
        deadline = time.monotonic() + 60.0  # the writer's backoff: at most 30 s
        while stored_ts(client, 5) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stored_ts(client, 5) == "20240701_190700"
    finally:
        stack.up(redis_settings)
        part.close()
