"""Redis edge: the current live state of each game, for the API (an optional cache).

Keys (contract; the API reads them):

- ``mlbsts:game:{gamePk}:live``: the game's latest :class:`~flows.stats.live_box.LiveStats`
  as JSON (``source_ts``, status, ``box``, ``innings``, totals). An unfinished game's key
  expires ``redis_live_ttl_s`` after its last update (renewed at every update), a Final
  one ``redis_live_final_ttl_s`` after it became Final.
- ``mlbsts:games:live``: a sorted set of the gamePks not yet Final, scored by the time of
  their last update (Redis server time, epoch seconds). Each write removes the members
  whose key has certainly expired (score older than ``redis_live_ttl_s``); a reader wants
  ``ZRANGEBYSCORE mlbsts:games:live (now - redis_live_ttl_s) +inf``, since pruning happens
  only at writes. A Final game leaves it. (It was a plain set before: the script replaces
  one it finds; unfinished games come back at their next update.)

Defensive and atomic: one Lua script per game compares the stored ``source_ts`` with the
incoming one and writes only a strictly newer state (``YYYYMMDD_HHMMSS`` compares as text;
the script refuses a ``source_ts`` of another form), so a replayed or reordered older record
never overwrites a newer one, and a repeated record (at-least-once delivery around a
resume) is a no-op. The two keys of a game may live in different Redis Cluster slots: on a
cluster, give the prefix a hash tag.

Optional: a Redis failure never stops the pipeline. Each socket operation waits at most
``redis_timeout_s`` and is not retried by the client; what happens while Redis is away
(pending states, backoff, catch-up, log lines, ``redis_rejected`` dead letters) is
``connectors/redis_catchup.py``. No exception leaves ``write_batch`` except one from
``rejects`` (a dead letter the broker refused).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

import msgspec
import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from redis.backoff import NoBackoff
from redis.retry import Retry

from connectors.redis_catchup import LiveStateWriter, Rejects, StoreUnavailableError
from connectors.storage_ops import StoredBatch, stored_batch
from flows.game.newest import newest_per_key
from flows.stats.live_box import LiveStats
from mlbsts.settings import Settings

log = logging.getLogger(__name__)

CATCH_UP_EVERY_S = 1.0  # how often pending states are looked at without new items

__all__ = ["LIVE_SET_KEY", "RedisLiveStateSink", "RedisLiveStore", "game_key", "redacted_url"]

LIVE_SET_KEY = "mlbsts:games:live"

# KEYS[1] the game's key, KEYS[2] the live set; ARGV: source_ts, JSON, "1" if Final,
# Final TTL s, live TTL s, gamePk. Returns 1 if written, 0 if an equal or newer is stored.
_WRITE_IF_NEWER = """
if not string.match(ARGV[1], '^%d%d%d%d%d%d%d%d_%d%d%d%d%d%d$') then
  return redis.error_reply('source_ts ' .. ARGV[1] .. ' is not YYYYMMDD_HHMMSS')
end
local now = tonumber(redis.call('TIME')[1])
if redis.call('TYPE', KEYS[2])['ok'] == 'set' then
  redis.call('DEL', KEYS[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - tonumber(ARGV[5])))
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' and type(doc['source_ts']) == 'string'
     and doc['source_ts'] >= ARGV[1] then
    return 0
  end
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
  redis.call('ZREM', KEYS[2], ARGV[6])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[5])
  redis.call('ZADD', KEYS[2], now, ARGV[6])
end
return 1
"""

# Error replies about the server rather than the value: Redis is unavailable, not refusing.
_SERVER_ERRORS = (
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.NoPermissionError,
    redis.exceptions.NoScriptError,
    redis.exceptions.ExecAbortError,
    redis.exceptions.AskError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.ClusterCrossSlotError,
)
_SERVER_CODES = frozenset({"MISCONF", "BUSY", "NOREPLICAS", "UNBLOCKED", "LOADING"})


def game_key(game_pk: int) -> str:
    return f"mlbsts:game:{game_pk}:live"


def redacted_url(url: str) -> str:
    """``url`` without its password, for log lines."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def is_server_error(error: redis.exceptions.ResponseError) -> bool:
    """An error reply about the server (memory, replica, permissions), not about the value."""
    code = str(error).split(" ", 1)[0]
    return isinstance(error, _SERVER_ERRORS) or code in _SERVER_CODES


def client_of(url: str, timeout_s: float) -> redis.Redis:
    """A client that waits at most ``timeout_s`` per socket operation and never retries."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )


class RedisLiveStore:
    """The :class:`~connectors.redis_catchup.LiveStore` on Redis: one pipeline of script
    calls per write."""

    def __init__(self, client: redis.Redis, final_ttl_s: int, live_ttl_s: int) -> None:
        self._client = client
        self._script = client.register_script(_WRITE_IF_NEWER)
        self._final_ttl = final_ttl_s
        self._live_ttl = live_ttl_s

    def write(self, states: Sequence[LiveStats]) -> list[str | None]:
        try:
            pipe = self._client.pipeline(transaction=False)
            for state in states:
                self._script(
                    keys=[game_key(state.gamePk), LIVE_SET_KEY],
                    args=[
                        state.source_ts,
                        msgspec.json.encode(state),
                        "1" if state.is_final else "0",
                        self._final_ttl,
                        self._live_ttl,
                        state.gamePk,
                    ],
                    client=pipe,
                )
            replies = pipe.execute(raise_on_error=False)
        except redis.exceptions.ConnectionError as e:
            raise StoreUnavailableError(_named(e), suspect_value=True) from e
        except redis.RedisError as e:  # a timeout, or an error reply to SCRIPT EXISTS/LOAD
            raise StoreUnavailableError(_named(e)) from e
        server = [r for r in replies if isinstance(r, redis.ResponseError) and is_server_error(r)]
        if server:
            raise StoreUnavailableError(_named(server[0]))
        return [str(r) if isinstance(r, redis.ResponseError) else None for r in replies]

    def answers(self) -> bool:
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._client.close()


def _named(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


class _RedisLivePartition(StatelessSinkPartition[LiveStats]):
    """Writes at each batch; a thread of its own also retries pending states every
    ``CATCH_UP_EVERY_S`` (the writer's backoff paces the attempts), so states held while
    Redis was away reach it even when no new item comes (a finished game)."""

    def __init__(
        self, store: RedisLiveStore, writer: LiveStateWriter, catch_up_every_s: float
    ) -> None:
        self._store = store
        self._writer = writer
        self._every = catch_up_every_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._catch_up, name="redis-catch-up", daemon=True)
        self._thread.start()

    def write_batch(self, items: list[LiveStats]) -> None:
        with self._lock:
            self._writer.write(newest_per_key(items, lambda s: s.gamePk).values())

    def stored(self, items: list[LiveStats]) -> StoredBatch:
        """The games' keys Redis now holds (``connectors.storage_ops``): those of the batch
        not still pending (Redis away); rows: games."""
        with self._lock:
            pending = set(self._writer.pending_games)
        fresh = [s for s in items if s.gamePk not in pending]
        done = list(newest_per_key(fresh, lambda s: s.gamePk).values())
        return stored_batch("redis", [game_key(s.gamePk) for s in done], done)

    def _catch_up(self) -> None:
        while not self._stop.wait(self._every):
            with self._lock:
                if not self._writer.pending_games:
                    continue
                try:
                    self._writer.write(())
                except Exception:  # a refused dead letter: the next batch raises it
                    log.exception("Redis live state: catching up failed")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        try:
            with self._lock:
                self._writer.close()
        finally:
            self._store.close()


class RedisLiveStateSink(DynamicSink[LiveStats]):
    """Writes each game's newest live state to Redis; idempotent, newest ``source_ts`` wins.

    Never stops the pipeline for Redis (module docstring). ``rejects`` gets a
    ``redis_rejected`` dead letter for each state Redis refuses for its data; without it
    such a state is logged and dropped. ``clock`` (monotonic seconds) paces the retries;
    ``catch_up_every_s``: how often pending states are retried without new items.
    """

    def __init__(
        self,
        settings: Settings,
        rejects: Rejects | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        catch_up_every_s: float = CATCH_UP_EVERY_S,
    ) -> None:
        self._url = settings.redis_url
        self._catch_up_every_s = catch_up_every_s
        self._timeout = settings.redis_timeout_s
        self._final_ttl = settings.redis_live_final_ttl_s
        self._live_ttl = settings.redis_live_ttl_s
        self._rejects = rejects
        self._clock = clock

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _RedisLivePartition:
        client = client_of(self._url, self._timeout)
        store = RedisLiveStore(client, self._final_ttl, self._live_ttl)
        writer = LiveStateWriter(store, redacted_url(self._url), self._rejects, clock=self._clock)
        return _RedisLivePartition(store, writer, self._catch_up_every_s)
