"""What one API process holds: the PostgreSQL pool, the Redis client, the key store, the
rate limiter, the stream pollers and the metrics, built from the settings.

Building connects to nothing; :meth:`Resources.open` starts the pool in the background
(the process serves ``/healthz`` while a server is down) and :meth:`Resources.close`
stops the pollers and closes the connections.
"""

from __future__ import annotations

from typing import Any

from cachetools import LRUCache
from fastapi import Request

from api.cursor import StreamKey
from api.db import Database
from api.key_store import KeyStore
from api.metrics import ApiMetrics
from api.queries_events import fetch_stream
from api.ratelimit import RateLimiter
from api.redis_io import RedisIO
from api.stream import Hubs
from mlbsts.settings import Settings

__all__ = ["BODY_CACHE_BYTES", "Resources", "resources_of"]

BODY_CACHE_BYTES = 64 * 1024 * 1024


class Resources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = ApiMetrics()
        self.db = Database(
            settings.postgres_dsn.get_secret_value(),
            size=settings.api_pool_size,
            timeout_s=settings.api_timeout_s,
            readers_schema=settings.pg_readers_schema,
        )
        self.redis = RedisIO(
            settings.redis_url, timeout_s=settings.api_timeout_s, prefix=settings.api_redis_prefix
        )
        self.keys = KeyStore(self.db, settings.api_key_cache_s)
        # answer bodies by ETag, in this process, before Redis (never stale: see responder)
        self.bodies: LRUCache[str, bytes] = LRUCache(maxsize=BODY_CACHE_BYTES, getsizeof=len)
        self.limiter = RateLimiter(self.redis)
        self.hubs = Hubs(self._fetch_stream, settings.api_stream_poll_s, self.metrics)

    async def _fetch_stream(
        self, game_pk: int, after: StreamKey, limit: int
    ) -> list[dict[str, Any]]:
        async with self.db.snapshot() as conn:
            return await fetch_stream(conn, game_pk, after, limit)

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.hubs.close()
        await self.redis.close()
        await self.db.close()


def resources_of(request: Request) -> Resources:
    found: Resources = request.app.state.resources
    return found
