"""A real HTTP server on 127.0.0.1 replaying recorded MLB Stats API responses.

Paths are the MLB Stats API's own (what is served: ``sim.corpus``)::

    GET /api/v1/schedule?sportId=1&date=YYYY-MM-DD
    GET /api/v1.1/game/{pk}/feed/live[?timecode=YYYYMMDD_HHMMSS]
    GET /api/v1.1/game/{pk}/feed/live/timestamps
    GET /api/v1.1/game/{pk}/feed/live/diffPatch?startTimecode=..[&endTimecode=..]

Games run on a simulated clock (``ReplayClock``: a start instant and a speed factor), so a
three-hour game can be replayed in seconds; a paused clock starts on the first request
about a game. Every response says what it is in
``X-Replay-Source`` (``recorded``, ``synthesized-from-feeds``, ``simulated``,
``derived-preview``, ``synthetic-scoring-change``) and the simulated time in ``X-Replay-Now``.

Fault injection (``FaultPlan``): one-shot bursts (``inject("429", 5)``) and periodic rules
(every N-th request starts a burst of B) of slow responses, 429 (with ``Retry-After``),
500, and dropped connections (closed with no response). Control over HTTP, for the CLI:
``POST /_replay/faults`` with ``{"kind": .., "count": ..}``, ``GET /_replay/requests``.
The request log (arrival time, path, status) lets tests measure a client's real rate.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

import orjson

from flows.game.envelope import parse_feed_timestamp
from sim.corpus import Corpus, GameTimeline

log = logging.getLogger(__name__)

FaultKind = Literal["slow", "429", "500", "drop"]
FAULT_KINDS: tuple[FaultKind, ...] = ("slow", "429", "500", "drop")
GAME_PATH = re.compile(r"^/api/v1\.1/game/(\d+)/feed/live(/timestamps|/diffPatch)?/?$")


class ReplayClock:
    """Simulated time: ``start`` advanced ``speed`` times faster than the wall clock."""

    def __init__(self, start: datetime, speed: float = 1.0, *, paused: bool = False) -> None:
        self._lock = threading.Lock()
        self._start = start
        self._speed = speed
        self._t0 = time.monotonic()
        self._paused = paused

    def now(self) -> datetime:
        with self._lock:
            if self._paused:
                return self._start
            return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self._speed)

    def resume(self) -> None:
        """Start a paused clock (the server does it on the first API request)."""
        with self._lock:
            if self._paused:
                self._paused = False
                self._t0 = time.monotonic()

    def set(self, start: datetime, speed: float | None = None) -> None:
        with self._lock:
            self._start = start
            self._t0 = time.monotonic()
            if speed is not None:
                self._speed = speed


@dataclass(frozen=True, slots=True)
class FaultRule:
    """Every ``every``-th API request starts a burst of ``burst`` faulty answers."""

    kind: FaultKind
    every: int
    burst: int = 1


@dataclass
class FaultPlan:
    """Which faults the next requests get; thread-safe, counted over API requests only."""

    rules: list[FaultRule] = field(default_factory=list)
    slow_s: float = 1.0
    retry_after_s: int = 1
    _pending: dict[str, int] = field(default_factory=dict)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, kind: FaultKind, count: int) -> None:
        with self._lock:
            self._pending[kind] = self._pending.get(kind, 0) + count

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self.rules.clear()

    def next_faults(self) -> set[str]:
        with self._lock:
            n = self._count
            self._count += 1
            out: set[str] = {r.kind for r in self.rules if n % r.every < r.burst}
            for kind, left in list(self._pending.items()):
                if left > 0:
                    out.add(kind)
                    self._pending[kind] = left - 1
            return out


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    at: float  # time.monotonic() on arrival
    path: str
    status: int  # 0 for a dropped connection


class ReplayServer:
    """The server object; ``start()`` binds (port 0 = any free port), ``stop()`` closes."""

    def __init__(
        self,
        corpus: Corpus,
        clock: ReplayClock,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        self.corpus = corpus
        self.clock = clock
        self.faults = faults or FaultPlan()
        self.requests: list[LoggedRequest] = []
        self._log_lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="replay-server", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, path: str, status: int) -> None:
        with self._log_lock:
            self.requests.append(LoggedRequest(time.monotonic(), path, status))

    def request_log(self) -> list[LoggedRequest]:
        with self._log_lock:
            return list(self.requests)


def start_of_day(corpus: Corpus, day: date, lead_s: float = 120.0) -> datetime:
    """A clock start ``lead_s`` before the first game of ``day`` we have a feed for."""
    firsts = [t.times[0] for pk in corpus.feeds_on(day) if (t := corpus.timeline(pk))]
    if not firsts:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return min(firsts) - timedelta(seconds=lead_s)


Answer = tuple[int, bytes, dict[str, str]]


def _json_error(status: HTTPStatus, message: str) -> Answer:
    body = orjson.dumps({"messageNumber": int(status), "message": message})
    return int(status), body, {"X-Replay-Source": "replay-server-error"}


def answer(server: ReplayServer, path: str, query: dict[str, list[str]]) -> Answer:
    """The response to an API request (pure of sockets: used by the handler)."""

    def arg(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    if path.rstrip("/") == "/api/v1/schedule":
        day_s = arg("date")
        if day_s is None:
            return _json_error(HTTPStatus.BAD_REQUEST, "date is required by this replay")
        try:
            day = date.fromisoformat(day_s)
        except ValueError:
            return _json_error(HTTPStatus.BAD_REQUEST, f"bad date {day_s!r}")
        schedule = server.corpus.schedule(day)
        if schedule is None:
            body = orjson.dumps({"totalItems": 0, "totalGames": 0, "dates": []})
            return 200, body, {"X-Replay-Source": "empty-no-recording"}
        return (
            200,
            schedule.body,
            {
                "X-Replay-Source": schedule.source,
                "X-Replay-Origin": schedule.origin,
            },
        )
    match = GAME_PATH.match(path)
    if match is None:
        return _json_error(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")
    game_pk = int(match.group(1))
    timeline = server.corpus.timeline(game_pk)
    server.clock.resume()  # a paused clock starts when a client first asks about a game
    if timeline is None:
        return _json_error(HTTPStatus.NOT_FOUND, f"no recording of game {game_pk}")
    now_index = timeline.index_at(server.clock.now())
    sub = match.group(2)
    if sub == "/timestamps":
        return (
            200,
            orjson.dumps(timeline.timecodes[: now_index + 1]),
            {"X-Replay-Source": "simulated"},
        )
    if sub == "/diffPatch":
        return _diff_patch(timeline, now_index, arg("startTimecode"), arg("endTimecode"))
    index = now_index
    timecode = arg("timecode")
    if timecode is not None:
        index = min(now_index, _index_at_code(timeline, timecode))
    return 200, timeline.body(index), {"X-Replay-Source": _feed_source(timeline, index)}


def _index_at_code(timeline: GameTimeline, timecode: str) -> int:
    try:
        return timeline.index_at(parse_feed_timestamp(timecode))
    except ValueError:
        return 0


def _feed_source(timeline: GameTimeline, index: int) -> str:
    return timeline.sources[index]


def _diff_patch(
    timeline: GameTimeline, now_index: int, start: str | None, end: str | None
) -> Answer:
    end_index = now_index if end is None else min(now_index, _index_at_code(timeline, end))
    start_index = timeline.index_of(start) if start is not None else None
    if start_index is None or start_index > end_index:
        # MLB answers a range it cannot diff with the full feed
        return 200, timeline.body(end_index), {"X-Replay-Source": _feed_source(timeline, end_index)}
    return 200, timeline.diff(start_index, end_index), {"X-Replay-Source": "simulated-diff"}


def _injected(plan: FaultPlan, faults: set[str]) -> Answer | None:
    """The answer an injected 429 or 500 fault gives instead of the API's, if any."""
    if "429" in faults:
        status, body, headers = _json_error(HTTPStatus.TOO_MANY_REQUESTS, "injected")
        headers["Retry-After"] = str(plan.retry_after_s)
        return status, body, headers
    if "500" in faults:
        return _json_error(HTTPStatus.INTERNAL_SERVER_ERROR, "injected")
    return None


def _apply_fault_spec(plan: FaultPlan, raw: bytes) -> None:
    """Apply a ``POST /_replay/faults`` body; a bad one raises one of ``_BAD_SPEC``."""
    spec = orjson.loads(raw)
    kind = spec["kind"]
    if kind == "clear":
        plan.clear()
    elif kind in FAULT_KINDS:
        plan.inject(kind, int(spec.get("count", 1)))
    else:
        raise ValueError(kind)


_BAD_SPEC = (orjson.JSONDecodeError, KeyError, ValueError, TypeError)


class _ReplayHandler(BaseHTTPRequestHandler):
    """One connection to the replay server; ``replay`` is bound by ``_make_handler``."""

    protocol_version = "HTTP/1.1"
    replay: ClassVar[ReplayServer]

    def log_message(self, format: str, *args: object) -> None:
        log.debug("replay %s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        server = self.replay
        parts = urlsplit(self.path)
        if parts.path.startswith("/_replay/"):
            self._control_get(parts.path)
            return
        faults = server.faults.next_faults()
        if "drop" in faults:
            server.record(parts.path, 0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if "slow" in faults:
            time.sleep(server.faults.slow_s)
        status, body, headers = _injected(server.faults, faults) or answer(
            server, parts.path, parse_qs(parts.query)
        )
        server.record(parts.path, status)
        self._send(status, body, headers)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        if urlsplit(self.path).path != "/_replay/faults":
            self._send(*_json_error(HTTPStatus.NOT_FOUND, "unknown control path"))
            return
        try:
            _apply_fault_spec(self.replay.faults, raw)
        except _BAD_SPEC as e:
            self._send(*_json_error(HTTPStatus.BAD_REQUEST, f"bad fault spec: {e}"))
            return
        self._send(200, b'{"ok": true}', {})

    def _control_get(self, path: str) -> None:
        server = self.replay
        if path == "/_replay/requests":
            rows = [{"at": r.at, "path": r.path, "status": r.status} for r in server.request_log()]
            self._send(200, orjson.dumps(rows), {})
        elif path == "/_replay/clock":
            self._send(200, orjson.dumps({"now": server.clock.now().isoformat()}), {})
        else:
            self._send(*_json_error(HTTPStatus.NOT_FOUND, "unknown control path"))

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Replay-Now", self.replay.clock.now().isoformat())
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _make_handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_ReplayHandler):
        replay = server

    return Handler
