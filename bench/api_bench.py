"""The API benchmark (``python -m bench.api_bench``; writes ``bench/api-report.md``).

On the configured stack, in a private schema (:mod:`bench.api_stage`), against one
``mlbsts api`` process:

1. **Requests:** requests per second and p50/p99 latency of cached routes (the line score
   and a page of plays, served from the Redis cache; the line score with ``If-None-Match``,
   a 304) next to ``/healthz`` (no I/O) of the same server in the same run, with the same
   client: ``CLIENTS`` keep-alive connections for ``SECONDS`` each. Client and server share
   the machine, so the ratios are the figures to compare across machines.
2. **Stream:** ``SUBSCRIBERS`` clients follow one game's stream while a real game's event
   batches are committed one by one (the real writer, every ``COMMIT_GAP_S``); for every
   event and subscriber, the delay from the commit's return to the event's arrival.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from api.key_store import create_key
from api.keys import SCOPES
from bench.api_stage import api_env, api_process, fill_game, private_schema
from connectors import pg_normalized as pn
from connectors import pg_upsert
from flows.game.snapshot_diff import step
from mlbsts.settings import Settings, get_settings
from sim.simulate import simulate

__all__ = ["main", "report"]

log = logging.getLogger("bench.api")
REPORT = Path(__file__).parent / "api-report.md"
CLIENTS = 32
SECONDS = 8.0
SUBSCRIBERS = 200
COMMIT_GAP_S = 0.5
REQUEST_GAME, STREAM_GAME = 744914, 747175


@dataclass(frozen=True)
class Load:
    route: str
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def quantile(self, q: float) -> float:
        return statistics.quantiles(self.latencies, n=100)[int(q * 100) - 1]


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """One HTTP/1.1 keep-alive exchange; returns the status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


async def _client(port: int, request: bytes, until: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (began := time.perf_counter()) < until:
            status = await _request(reader, writer, request)
            if status not in (200, 304):
                raise RuntimeError(f"status {status} for {request!r}")
            latencies.append(time.perf_counter() - began)
    finally:
        writer.close()


async def _load(port: int, route: str, key: str, headers: str = "") -> Load:
    request = (
        f"GET {route} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n{headers}\r\n"
    ).encode()
    warm: list[float] = []
    await _client(port, request, time.perf_counter() + 0.5, warm)  # fills the caches
    latencies: list[float] = []
    began = time.perf_counter()
    until = began + SECONDS
    await asyncio.gather(*(_client(port, request, until, latencies) for _ in range(CLIENTS)))
    return Load(route, len(latencies), time.perf_counter() - began, latencies)


def _etag(port: int, route: str, key: str) -> str:
    import httpx  # noqa: PLC0415 - one request

    answer = httpx.get(f"http://127.0.0.1:{port}{route}", headers={"X-API-Key": key})
    return answer.headers["etag"]


def _requests_section(port: int, key: str) -> list[str]:
    linescore = f"/v1/games/{REQUEST_GAME}/linescore"
    plays = f"/v1/games/{REQUEST_GAME}/plays?limit=500"
    tag = _etag(port, linescore, key)
    loads = [
        asyncio.run(_load(port, "/healthz", key)),
        asyncio.run(_load(port, linescore, key)),
        asyncio.run(_load(port, plays, key)),
        asyncio.run(_load(port, linescore, key, f"If-None-Match: {tag}\r\n")),
    ]
    names = ["`/healthz` (no I/O)", "line score (cached)", "500 plays (cached)", "line score 304"]
    base = loads[0]
    lines = [
        f"## Requests ({CLIENTS} keep-alive clients, {SECONDS:.0f} s per route)",
        "",
        "| route | req/s | ratio to /healthz | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, load in zip(names, loads, strict=True):
        lines.append(
            f"| {name} | {load.rps:,.0f} | {load.rps / base.rps:.2f} | "
            f"{load.quantile(0.5) * 1000:.1f} | {load.quantile(0.99) * 1000:.1f} |"
        )
    return [*lines, ""]


def _batches(feed: dict[str, Any], every: int) -> list[list[Any]]:
    """The engine's events of ``feed``, one list per snapshot."""
    state = None
    out = []
    for snap in simulate(feed, every):
        state, events = step(state, snap)
        out.append(events)
    return out


async def _subscriber(
    port: int, key: str, arrived: dict[str, list[float]], ready: asyncio.Event
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /v1/games/{STREAM_GAME}/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"X-API-Key: {key}\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    try:
        while line := await reader.readline():
            if line.startswith(b"id: "):
                ready.set()
                arrived.setdefault(line[4:].strip().decode(), []).append(time.perf_counter())
            elif line.startswith(b"event: end"):
                return
    finally:
        writer.close()


async def _stream_run(port: int, key: str, dsn: str, batches: list[list[Any]]) -> list[float]:
    arrived: dict[str, list[float]] = {}
    readies = [asyncio.Event() for _ in range(SUBSCRIBERS)]
    subscribers = [asyncio.create_task(_subscriber(port, key, arrived, ready)) for ready in readies]
    await asyncio.gather(*(ready.wait() for ready in readies))  # all have the backlog
    committed: dict[str, float] = {}
    with pg_upsert.connect(dsn, pn.EVENT_TABLES) as conn:
        for events in batches:
            await asyncio.to_thread(pn.write_events, conn, events)
            done = time.perf_counter()
            committed.update({f"{e.source_ts}/{e.event_id}": done for e in events})
            await asyncio.sleep(COMMIT_GAP_S)
    await asyncio.wait_for(asyncio.gather(*subscribers), 120)
    return [t - committed[i] for i, times in arrived.items() if i in committed for t in times]


def _stream_section(port: int, key: str, dsn: str, settings: Settings) -> list[str]:
    feed = orjson.loads(
        (settings.data_dir / "mlb" / "feed_live" / f"{STREAM_GAME}.json").read_bytes()
    )
    batches = _batches(feed, 3)
    live = len(batches) * 2 // 3
    with pg_upsert.connect(dsn, pn.EVENT_TABLES) as conn:
        for events in batches[:live]:
            pn.write_events(conn, events)
    delays = asyncio.run(_stream_run(port, key, dsn, batches[live:]))
    events = sum(len(b) for b in batches[live:])
    q = statistics.quantiles(delays, n=100)
    return [
        f"## Stream ({SUBSCRIBERS} subscribers of one game, one API process)",
        "",
        f"{len(batches) - live} snapshots' event batches of game {STREAM_GAME} ({events} "
        f"events) committed {COMMIT_GAP_S} s apart by the real writer while {SUBSCRIBERS} "
        f"clients follow the stream; poll interval {settings.api_stream_poll_s} s. Delay from "
        f"the commit's return to the event's arrival, over {len(delays):,} deliveries:",
        "",
        "| p50 ms | p90 ms | p99 ms | max ms |",
        "|---:|---:|---:|---:|",
        f"| {q[49] * 1000:.0f} | {q[89] * 1000:.0f} | {q[98] * 1000:.0f} | "
        f"{max(delays) * 1000:.0f} |",
        "",
    ]


def report(settings: Settings, log_dir: Path) -> str:
    with private_schema(settings, prefix="bench_api_") as dsn:
        feed = orjson.loads(
            (settings.data_dir / "mlb" / "feed_live" / f"{REQUEST_GAME}.json").read_bytes()
        )
        fill_game(dsn, feed, every=5)
        key = create_key(dsn, "bench", SCOPES, 10_000_000).key
        with api_process(api_env(settings, dsn), log_dir / "api-bench.log") as proc:
            port = int(proc.url.rsplit(":", 1)[1])
            log.info("requests: %d clients, %.0f s per route ...", CLIENTS, SECONDS)
            requests = _requests_section(port, key)
            log.info("stream: %d subscribers ...", SUBSCRIBERS)
            stream = _stream_section(port, key, dsn, settings)
    return "\n".join(["# MLB-STS API benchmark", "", *requests, *stream])


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = get_settings()
    head = (
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"Python {platform.python_version()}; client and server on the same machine "
        f"({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start: "
        "other work on the machine skews every figure, the ratios least)."
    )
    body = report(settings, settings.stack_dir / "logs")
    REPORT.write_text(body.replace("\n\n", f"\n\n{head}\n\n", 1))
    sys.stdout.write(REPORT.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
