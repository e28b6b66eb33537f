"""Per-key rate limits shared by every API process: a token bucket in Redis.

Each key has a bucket of ``rate_per_min`` tokens that refills continuously at
``rate_per_min / 60`` tokens per second; a request takes one token. One Lua script reads,
refills, takes and writes the bucket atomically with Redis' own clock, so any number of
API processes share one exact limit and their clocks do not matter. The bucket expires
once it would be full again. Headers of every answer to an authenticated request::

    X-RateLimit-Limit      tokens per minute (also the burst)
    X-RateLimit-Remaining  whole tokens left
    X-RateLimit-Reset      seconds until the bucket is full again

and, on a 429, ``Retry-After``: seconds until one token is back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from api.redis_io import RedisIO

__all__ = ["Decision", "RateLimiter", "headers_of"]

# KEYS[1] the bucket; ARGV: capacity, refill per second, cost.
# Returns {allowed 0|1, whole tokens left, ms until one token, ms until full}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = cap
  ts = now
end
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
           'ts', string.format('%.6f', now))
local full_ms = math.ceil((cap - tokens) / rate * 1000)
redis.call('PEXPIRE', KEYS[1], full_ms + 1000)
local wait_ms = 0
if allowed == 0 then
  wait_ms = math.ceil((cost - tokens) / rate * 1000)
end
return {allowed, math.floor(tokens), wait_ms, full_ms}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int
    reset_s: int


def headers_of(decision: Decision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_s),
    }


class RateLimiter:
    """Takes one token from a key's bucket (one Redis round trip)."""

    def __init__(self, redis: RedisIO) -> None:
        self._redis = redis
        self._script = redis.client.register_script(_TAKE)

    async def take(self, key_id: str, rate_per_min: int) -> Decision:
        async with self._redis.bounded():
            allowed, remaining, wait_ms, full_ms = await self._script(
                keys=[self._redis.key("ratelimit", key_id)],
                args=[rate_per_min, rate_per_min / 60.0, 1],
            )
        return Decision(
            allowed=bool(allowed),
            limit=rate_per_min,
            remaining=int(remaining),
            retry_after_s=max(1, math.ceil(int(wait_ms) / 1000)) if not allowed else 0,
            reset_s=math.ceil(int(full_ms) / 1000),
        )
