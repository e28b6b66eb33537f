"""Redis for the API: one async client with time bounds, and its errors as 503s.

Every call is bounded by ``api_timeout_s`` (socket connect and read timeouts, plus a
deadline around the call). A call that cannot be answered raises
:class:`api.errors.UnavailableError` naming Redis. Redis holds the game live states
(written by the dataflow, ``connectors/redis_state.py``), the shared rate-limit buckets and the
response cache (keys under ``api_redis_prefix``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from api.errors import UnavailableError

__all__ = ["RedisIO"]


class RedisIO:
    """The API's Redis client, with :meth:`bounded` mapping failures to 503."""

    def __init__(self, url: str, *, timeout_s: float, prefix: str) -> None:
        self.timeout_s = timeout_s
        self.prefix = prefix
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1),
        )

    def key(self, *parts: str) -> str:
        """A key of the API's own, under its prefix."""
        return self.prefix + ":".join(parts)

    @asynccontextmanager
    async def bounded(self) -> AsyncIterator[aioredis.Redis]:
        try:
            async with asyncio.timeout(self.timeout_s):
                yield self.client
        except (RedisError, OSError) as e:
            raise UnavailableError(
                "redis", str(e).splitlines()[0] if str(e) else type(e).__name__
            ) from e
        except TimeoutError as e:
            raise UnavailableError("redis", f"no answer within {self.timeout_s:g} s") from e

    async def ping(self) -> None:
        async with self.bounded() as r:
            await cast("Awaitable[bool]", r.ping())  # redis-py types it sync-or-async

    async def close(self) -> None:
        await self.client.aclose()
