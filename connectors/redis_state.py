"""Redis edge: the current live state of each game, for the API.

Keys (the API reads them):

- ``mlbsts:game:{gamePk}:live``: the game's latest :class:`~flows.stats.live_box.LiveStats`
  as JSON (``source_ts``, status, ``box``, ``innings``, totals);
- ``mlbsts:games:live``: the set of gamePks whose live state is current and not Final.

Defensive and atomic: one Lua script per game compares the stored ``source_ts`` with the
incoming one and writes only a strictly newer state (``YYYYMMDD_HHMMSS`` compares as text),
so a replayed or reordered older record never overwrites a newer one, and a repeated
record (at-least-once delivery around a resume) is a no-op. A Final state gets an expiry
(``redis_live_final_ttl_s``) and leaves the live set; a non-Final one is persistent.
The two keys of a game may live in different Redis Cluster slots: on a cluster, give the
prefix a hash tag. Exceptions::

    RedisStateError (RuntimeError)   Redis refused the write or is unreachable; says which games
"""

from __future__ import annotations

import logging

import msgspec
import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from flows.game.newest import newest_per_key
from flows.stats.live_box import LiveStats
from mlbsts.settings import Settings

__all__ = ["LIVE_SET_KEY", "RedisLiveStateSink", "RedisStateError", "game_key"]

log = logging.getLogger(__name__)

LIVE_SET_KEY = "mlbsts:games:live"

# KEYS[1] the game's key, KEYS[2] the live set;
# ARGV: source_ts, JSON, "1" if Final, TTL seconds, gamePk. Returns 1 if written.
_WRITE_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' and type(doc['source_ts']) == 'string'
     and doc['source_ts'] >= ARGV[1] then
    return 0
  end
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[4]))
  redis.call('SREM', KEYS[2], ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[5])
end
return 1
"""


class RedisStateError(RuntimeError):
    """Broken infrastructure: Redis refused a write or is unreachable."""


def game_key(game_pk: int) -> str:
    return f"mlbsts:game:{game_pk}:live"


class _RedisLivePartition(StatelessSinkPartition[LiveStats]):
    def __init__(self, client: redis.Redis, final_ttl_s: int) -> None:
        self._client = client
        self._script = client.register_script(_WRITE_IF_NEWER)
        self._ttl = final_ttl_s

    def write_batch(self, items: list[LiveStats]) -> None:
        states = list(newest_per_key(items, lambda s: s.gamePk).values())
        if not states:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for state in states:
                self._script(
                    keys=[game_key(state.gamePk), LIVE_SET_KEY],
                    args=[
                        state.source_ts,
                        msgspec.json.encode(state),
                        "1" if state.is_final else "0",
                        self._ttl,
                        state.gamePk,
                    ],
                    client=pipe,
                )
            written = pipe.execute()
        except redis.RedisError as e:
            games = sorted(s.gamePk for s in states)
            raise RedisStateError(f"live state of games {games} not written: {e}") from e
        log.debug("redis live state: %d of %d games updated", sum(written), len(states))

    def close(self) -> None:
        self._client.close()


class RedisLiveStateSink(DynamicSink[LiveStats]):
    """Writes each game's newest live state to Redis; idempotent, newest ``source_ts`` wins."""

    def __init__(self, settings: Settings) -> None:
        self._url = settings.redis_url
        self._ttl = settings.redis_live_final_ttl_s

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _RedisLivePartition:
        return _RedisLivePartition(redis.Redis.from_url(self._url), self._ttl)
