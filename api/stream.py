"""A game's committed events as server-sent events: one poller per game, fanned out.

**Order and resumption.** The stream sends a game's event rows (the six event tables of
``sql/0002_normalized_events.sql``, retractions included) in the order of
``(source_ts, event_id)``, compared byte-wise; each SSE ``id`` is ``<source_ts>/<event_id>``
(:mod:`api.cursor`). A client that reconnects with ``Last-Event-ID`` gets every row after
that key. This is exact because the dataflow diffs a game's snapshots in log order and
dead-letters stale ones, and writes each snapshot's events in one transaction: a game's
rows are committed with non-decreasing ``source_ts``, and a committed row is visible whole.
A correction or a retraction rewrites its row with a newer ``source_ts``, so it is sent
again, after everything sent before it.

**Cost.** Each API process runs at most one poller per game that has subscribers
(:class:`Hubs`): it asks PostgreSQL for the rows after the newest it holds every
``api_stream_poll_s`` seconds (one indexed query, whatever the number of subscribers)
and keeps the game's rows in memory (a whole game is ~1,000 rows), so any subscriber,
new or resuming, is served from memory. A poller stops a while after its last subscriber
leaves. Delivery latency is at most one poll interval after the commit, plus the send.

**End.** Once the game's status row says Final and a poll that began after the
subscriber joined is done, the subscriber gets an ``end`` event and the stream closes
(a scoring change made later is read by reconnecting with ``Last-Event-ID``).

**Wire.** Each event is formatted once, when the poller reads it, and the same bytes go
to every subscriber. A comment line (``: ping``) is sent after ``PING_S`` idle seconds so
proxies keep the connection. The stream is a plain Starlette ``StreamingResponse``: a
client that goes away cancels its generator (no error logged), which FastAPI's own SSE
machinery of this version does not do (fastapi discussion 15725: a disconnect during a
send is logged as an application error).
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_right
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event

from api.cursor import StreamKey, stream_id
from api.errors import UnavailableError
from api.metrics import ApiMetrics
from flows.game.status import is_final

__all__ = ["GameHub", "Hubs", "game_events"]

log = logging.getLogger(__name__)

Fetch = Callable[[int, StreamKey, int], Awaitable[list[dict[str, Any]]]]
START: StreamKey = ("", "")
PAGE = 2000
PING_S = 15.0
RETRY_MS = 3000  # how soon a browser's EventSource reconnects after a drop


@dataclass
class GameHub:
    """The rows of one game committed so far, and who waits for more."""

    game_pk: int
    fetch: Fetch
    metrics: ApiMetrics
    keys: list[StreamKey] = field(default_factory=list)
    events: list[bytes] = field(default_factory=list)  # SSE frames, formatted once
    final: bool = False
    polls: int = 0
    subscribers: int = 0
    idle_since: float = field(default_factory=time.monotonic)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def index_after(self, key: StreamKey | None) -> int:
        return bisect_right(self.keys, key) if key is not None else 0

    async def poll(self) -> int:
        """Read every row committed after the newest held; returns how many."""
        got = 0
        while True:
            rows = await self.fetch(self.game_pk, self.keys[-1] if self.keys else START, PAGE)
            for row in rows:
                key = (row["source_ts"], row["event_id"])
                self.keys.append(key)
                self.events.append(
                    format_sse_event(data_str=row["data"], event=row["kind"], id=stream_id(key))
                )
                if row["kind"] == "status":
                    self.final = is_final(row["state"])
            got += len(rows)
            if len(rows) < PAGE:
                break
        self.polls += 1
        self.metrics.stream_polls.inc()
        self.metrics.stream_events.inc(got)
        if got or self.final:
            self._changed.set()
            self._changed = asyncio.Event()
        return got

    def changed(self) -> Coroutine[Any, Any, bool]:
        """Until the next poll that read rows (or any poll, once the game is Final). The
        event is taken now, not when the coroutine starts: no poll is missed between."""
        return self._changed.wait()

    async def run(self, poll_s: float, linger_s: float) -> None:
        failures = 0
        while self.subscribers or time.monotonic() - self.idle_since < linger_s:
            try:
                await self.poll()
                failures = 0
            except UnavailableError as e:
                failures += 1
                if failures == 1 or failures % 100 == 0:
                    log.warning(
                        "stream of game %d: %s (%d failed polls)", self.game_pk, e, failures
                    )
            except Exception:  # a bug: keep the subscribers' poller alive, say it loudly
                failures += 1
                log.exception("stream of game %d: poll failed", self.game_pk)
            await asyncio.sleep(poll_s * 2 ** min(failures, 4))  # backoff while failing


class Hubs:
    """The pollers of one API process, by game."""

    def __init__(self, fetch: Fetch, poll_s: float, metrics: ApiMetrics) -> None:
        self._fetch = fetch
        self._poll_s = poll_s
        self._linger_s = max(5.0, 20 * poll_s)
        self._metrics = metrics
        self._hubs: dict[int, tuple[GameHub, asyncio.Task[None]]] = {}

    def _start(self, game_pk: int) -> GameHub:
        found = self._hubs.get(game_pk)
        if found is not None and not found[1].done():
            return found[0]
        hub = GameHub(game_pk, self._fetch, self._metrics)
        task = asyncio.create_task(self._run(hub), name=f"stream-{game_pk}")
        self._hubs[game_pk] = (hub, task)
        self._metrics.hubs.set(len(self._hubs))
        return hub

    async def _run(self, hub: GameHub) -> None:
        try:
            await hub.run(self._poll_s, self._linger_s)
        finally:
            if self._hubs.get(hub.game_pk, (None,))[0] is hub:
                del self._hubs[hub.game_pk]
            self._metrics.hubs.set(len(self._hubs))

    @asynccontextmanager
    async def subscribe(self, game_pk: int) -> AsyncIterator[GameHub]:
        hub = self._start(game_pk)
        hub.subscribers += 1
        self._metrics.subscribers.inc()
        try:
            yield hub
        finally:
            hub.subscribers -= 1
            hub.idle_since = time.monotonic()
            self._metrics.subscribers.dec()

    async def close(self) -> None:
        tasks = [task for _, task in self._hubs.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task


async def game_events(
    hubs: Hubs, game_pk: int, after: StreamKey | None, ping_s: float = PING_S
) -> AsyncIterator[bytes]:
    """The SSE frames of ``game_pk``'s events after ``after`` (all from the start when
    None), as they are committed, then ``end`` once the game is Final."""
    yield format_sse_event(retry=RETRY_MS)
    async with hubs.subscribe(game_pk) as hub:
        joined = hub.polls
        last = after
        while True:
            index = hub.index_after(last)  # the hub may not have read that far yet
            while index < len(hub.events):
                yield hub.events[index]
                last = hub.keys[index]
                index += 1
            if hub.final and hub.polls > joined:
                end = {"game_pk": game_pk, "reason": "final"}
                yield format_sse_event(data_str=orjson.dumps(end).decode(), event="end")
                return
            try:
                await asyncio.wait_for(hub.changed(), ping_s)
            except TimeoutError:
                yield KEEPALIVE_COMMENT
