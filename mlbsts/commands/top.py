"""``mlbsts top``: a live terminal view of the running system.

Every ``--every`` seconds: scrape the ``/metrics`` of the workers, the poller and the API,
read the games' live states from Redis (``mlbsts:games:live`` and
``mlbsts:game:{gamePk}:live``, see ``connectors/redis_state.py``), and redraw the view of
:mod:`mlbsts.top`. A process or a Redis that does not answer shows as down; Ctrl-C ends the
command with status 0. Reads only: it changes nothing anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

import typer

if TYPE_CHECKING:
    import httpx
    import redis
    from rich.console import Group

    from mlbsts.settings import Settings
    from mlbsts.top import GameRow, LiveGames
    from mlbsts.top_figures import Scrape

SCRAPE_TIMEOUT_S = 2.0
MAX_GAMES = 60  # lines of the games table; the unfinished games come first
GAME_KEYS = "mlbsts:game:*:live"  # connectors.redis_state.game_key, every game


def top(
    worker: list[str] = typer.Option(
        [],
        "--worker",
        help="a worker process's /metrics URL, repeatable "
        "(default MLBSTS_TELEMETRY_HOST:MLBSTS_WORKER_TELEMETRY_PORT)",
    ),
    poller: list[str] = typer.Option(
        [],
        "--poller",
        help="the poller's /metrics URL "
        "(default MLBSTS_TELEMETRY_HOST:MLBSTS_INGEST_TELEMETRY_PORT)",
    ),
    api: list[str] = typer.Option(
        [], "--api", help="the API's /metrics URL (default MLBSTS_API_HOST:MLBSTS_API_PORT)"
    ),
    every: float = typer.Option(2.0, "--every", min=0.2, help="seconds between refreshes"),
    once: bool = typer.Option(False, "--once", help="print one view and exit"),
) -> None:
    """Per game: status, inning, score, data age; events/s, dead letters, sinks, lag."""
    from rich.console import Console
    from rich.live import Live

    from mlbsts.settings import get_settings

    settings = get_settings()
    endpoints = _endpoints(settings, worker, poller, api)
    console = Console()
    previous: dict[str, Scrape] = {}
    if once:
        console.print(_refresh(settings, endpoints, previous))
        return
    try:
        with Live(console=console, auto_refresh=False, screen=False) as live:
            while True:
                live.update(_refresh(settings, endpoints, previous), refresh=True)
                time.sleep(every)
    except KeyboardInterrupt:
        return


def _endpoints(
    settings: Settings, worker: list[str], poller: list[str], api: list[str]
) -> list[tuple[str, str]]:
    """(process, URL) of every endpoint to scrape, from the settings where none is given."""

    def url(host: str, port: int) -> str:
        if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - a listen address: ask loopback
            host = "127.0.0.1"
        return f"http://{host}:{port}/metrics"

    s = settings
    return [
        *(("worker", u) for u in worker or [url(s.telemetry_host, s.worker_telemetry_port)]),
        *(("poller", u) for u in poller or [url(s.telemetry_host, s.ingest_telemetry_port)]),
        *(("api", u) for u in api or [url(settings.api_host, settings.api_port)]),
    ]


def _refresh(
    settings: Settings, endpoints: Sequence[tuple[str, str]], previous: dict[str, Scrape]
) -> Group:
    """Read everything once and build the view; ``previous`` becomes this round's scrapes."""
    import httpx

    from mlbsts.top import render

    with httpx.Client(timeout=SCRAPE_TIMEOUT_S) as client:
        scrapes = [scrape(client, process, url) for process, url in endpoints]
    now = datetime.now(UTC)
    view = render(read_games(settings, now), scrapes, dict(previous), now)
    previous.clear()
    previous.update({s.url: s for s in scrapes if s.up})
    return view


def scrape(client: httpx.Client, process: str, url: str) -> Scrape:
    """One endpoint's metrics, or a down :class:`~mlbsts.top_figures.Scrape` saying why."""
    import httpx

    from mlbsts.top_figures import down, scrape_of

    at = time.monotonic()
    try:
        answer = client.get(url)
    except httpx.HTTPError as e:
        return down(process, url, at, type(e).__name__)
    if answer.status_code != 200:
        return down(process, url, at, f"HTTP {answer.status_code}")
    return scrape_of(process, url, at, answer.text)


def read_games(settings: Settings, now: datetime) -> LiveGames:
    """The live states in Redis: the live set's games (unfinished, newest first), then the
    other live keys still there (Final ones, until they expire); Redis down: an error."""
    import redis

    from connectors.redis_state import client_of, redacted_url
    from mlbsts.top import LiveGames

    url = settings.redis_url
    client = client_of(url, settings.redis_timeout_s)
    try:
        rows, unreadable = _rows(client, settings.redis_live_ttl_s, now)
        return LiveGames(rows=tuple(rows), unreadable=unreadable)
    except redis.RedisError as e:
        return LiveGames(error=f"{redacted_url(url)}: {type(e).__name__}")
    finally:
        client.close()


def _rows(client: redis.Redis, live_ttl_s: int, now: datetime) -> tuple[list[GameRow], int]:
    """The games' rows, and how many stored states this version could not read."""
    import msgspec

    from connectors.redis_state import LIVE_SET_KEY, game_key
    from flows.stats.live_box import LiveStats
    from mlbsts.top import game_row

    since = now.timestamp() - live_ttl_s
    live = {
        int(member): float(score)
        for member, score in client.zrevrangebyscore(LIVE_SET_KEY, "+inf", since, withscores=True)
    }
    others: list[int] = []
    for key in client.scan_iter(match=GAME_KEYS, count=500):
        pk = int(key.decode().split(":")[2])
        if pk not in live:
            others.append(pk)
        if len(others) >= MAX_GAMES:
            break
    pks = [*live, *sorted(others)][:MAX_GAMES]
    rows, unreadable = [], 0
    # redis-py types its answers sync-or-async
    values = cast("list[bytes | None]", client.mget([game_key(pk) for pk in pks])) if pks else []
    for pk, value in zip(pks, values, strict=True):
        if value is None:
            continue  # expired between the two reads
        try:
            state = msgspec.json.decode(value, type=LiveStats)
        except msgspec.DecodeError:
            unreadable += 1  # written by another version of the flow
            continue
        rows.append(game_row(state, now, live.get(pk)))
    return rows, unreadable
