"""A Redis cache of schedule responses (short TTL) that steps aside when Redis is down.

Any ``redis.RedisError`` (refused connection, timeout, ...) is logged once and the cache is
bypassed for ``retry_after_s``: the poller then asks the API directly, never fails for it.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class RedisScheduleCache:
    def __init__(
        self, url: str, ttl_s: int, *, retry_after_s: float = 30.0, timeout_s: float = 0.5
    ) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._ttl_s = ttl_s
        self._retry_after_s = retry_after_s
        self._down_until = 0.0
        self.hits = 0
        self.misses = 0

    def _usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def _down(self, op: str, error: RedisError) -> None:
        if self._usable():
            log.warning(
                "schedule cache off for %.0fs: redis %s failed: %s", self._retry_after_s, op, error
            )
        self._down_until = time.monotonic() + self._retry_after_s

    async def get(self, key: str) -> bytes | None:
        if not self._usable():
            return None
        try:
            value = await self._redis.get(key)
        except RedisError as e:
            self._down("get", e)
            return None
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        return bytes(value)

    async def set(self, key: str, value: bytes) -> None:
        if not self._usable():
            return
        try:
            await self._redis.set(key, value, ex=self._ttl_s)
        except RedisError as e:
            self._down("set", e)

    async def aclose(self) -> None:
        await self._redis.aclose()
