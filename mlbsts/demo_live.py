"""``mlbsts demo --live``: watch a real recorded game on the live page, replayed at a
chosen speed, with the real worker and the real API on the local stack.

1. Private names, so the dev stack's data is left as it is (an earlier ``mlbsts demo``
   already holds the whole game: a live replay into the same tables would show it Final
   at once): a raw topic ``<mlb.raw.game-snapshots>.demo-live-<run>`` and a migrated
   PostgreSQL schema ``demo_live_<run>``, plus a Redis prefix for the API's own keys;
2. the Bytewax worker (``python -m bytewax.run flows.live_stats:flow``) reading that topic
   and writing that schema, and ``mlbsts api`` on that schema, each a process of its own
   session (so a Ctrl-C reaches only this command, which stops them in order);
3. a key with every scope, made in that schema (it dies with it), and the page's URL with
   the key in its fragment (``api/page_session.py``: the fragment never reaches a server);
4. the game's snapshots (``sim.simulate``, every N pitches) published at the feed's own
   pace: the gap between two snapshots' ``metaData.timeStamp`` divided by the speed, at
   most :data:`LONGEST_WAIT_S` (a rain delay is skipped);
5. after the last snapshot (Final) everything stays up until Ctrl-C; then the API and the
   worker stop and the topic, the schema and the Redis keys are removed.

Shared by design: the worker still writes the event and stats topics, S3 and the games'
live state in Redis under their contract names. Those writes are idempotent (the same
event ids, keys and bytes; Redis keeps the newest state), so a replay adds exact
duplicates at most.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
import redis
from confluent_kafka import KafkaException
from psycopg import sql
from psycopg.conninfo import make_conninfo

from api.key_store import create_key
from api.keys import SCOPES
from mlbsts import topics
from mlbsts.demo import DemoError, publish
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from mlbsts.stack.kafka import admin_client, create_topics
from mlbsts.stack.migrations import apply_migrations
from mlbsts.stack.ports import port_is_free
from mlbsts.waiting import first_answer, http_ok
from sim.simulate import simulate

__all__ = ["LONGEST_WAIT_S", "LiveWorld", "pacing", "run_live"]

LONGEST_WAIT_S = 30.0
log = logging.getLogger(__name__)
Say = Callable[[str], None]


@dataclass(frozen=True)
class LiveWorld:
    """The private names of one live demo."""

    run_id: str
    topic: str
    schema: str
    dsn: str
    redis_prefix: str


def feed_time(snapshot: dict[str, Any]) -> datetime:
    return datetime.strptime(snapshot["metaData"]["timeStamp"], "%Y%m%d_%H%M%S")


def pacing(
    snapshots: Sequence[dict[str, Any]], speed: float, longest_s: float = LONGEST_WAIT_S
) -> list[float]:
    """Wall seconds to wait before publishing each snapshot: its feed-time gap to the one
    before, divided by ``speed``, at most ``longest_s``."""
    times = [feed_time(s) for s in snapshots]
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    return [0.0] + [min(max(g, 0.0) / speed, longest_s) for g in gaps]


@contextmanager
def private_world(settings: Settings, run_id: str) -> Iterator[LiveWorld]:
    """A raw topic and a migrated schema of this run; removed afterwards."""
    base = settings.postgres_dsn.get_secret_value()
    schema = f"demo_live_{run_id}"
    world = LiveWorld(
        run_id=run_id,
        topic=f"{topics.RAW_GAME_SNAPSHOTS}.demo-live-{run_id}",
        schema=schema,
        dsn=make_conninfo(base, options=f"-c search_path={schema}"),
        redis_prefix=f"mlbsts:demo-live:{run_id}:",
    )
    try:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        apply_migrations(world.dsn)
        create_topics(settings, [world.topic], 1)
        yield world
    finally:
        _remove(settings, world)


def _remove(settings: Settings, world: LiveWorld) -> None:
    admin = admin_client(settings)  # kept referenced until its futures are done
    try:
        for future in admin.delete_topics([world.topic], operation_timeout=30).values():
            future.result(timeout=60)
    except KafkaException as e:  # best effort: the stack may be going down too
        log.warning("could not delete the demo's topic %s: %s", world.topic, e)
    with (
        suppress(psycopg.Error),
        psycopg.connect(settings.postgres_dsn.get_secret_value(), autocommit=True) as conn,
    ):
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(world.schema))
        )
    with suppress(redis.RedisError):
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
        for key in client.scan_iter(match=f"{world.redis_prefix}*", count=1000):
            client.delete(key)
        client.close()


@contextmanager
def child(
    name: str, argv: list[str], env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A process of its own session (the terminal's Ctrl-C reaches only us), logging to
    ``log_path``; terminated (then killed) when the block ends."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def check_alive(procs: dict[str, tuple[subprocess.Popen[bytes], Path]]) -> None:
    for name, (proc, log_path) in procs.items():
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise DemoError(f"the {name} stopped (exit {proc.returncode}); {log_path}:\n{tail}")


def worker_env(settings: Settings, world: LiveWorld) -> dict[str, str]:
    telemetry = settings.worker_telemetry_port
    return {
        **os.environ,
        "MLBSTS_POSTGRES_DSN": world.dsn,
        "MLBSTS_FLOW_INPUT_TOPIC": world.topic,
        "MLBSTS_FLOW_STOP_AT_END": "false",
        # `mlbsts top` finds the worker on its usual port, unless a worker already has it
        "MLBSTS_WORKER_TELEMETRY_PORT": str(telemetry if port_is_free(telemetry) else 0),
    }


def api_env(world: LiveWorld) -> dict[str, str]:
    return {
        **os.environ,
        "MLBSTS_POSTGRES_DSN": world.dsn,
        "MLBSTS_API_REDIS_PREFIX": world.redis_prefix,
    }


def wait_healthy(url: str, alive: Callable[[], None], timeout_s: float = 60) -> None:
    if not first_answer(partial(http_ok, f"{url}/healthz"), timeout_s, alive=alive):
        raise DemoError(f"the API did not answer {url}/healthz within {timeout_s:.0f} s")


def situation(snapshot: dict[str, Any]) -> tuple[str, str]:
    """(the half inning, the score) of a snapshot, as a person says them."""
    line = snapshot["liveData"]["linescore"]
    teams = snapshot["gameData"]["teams"]
    half = "Top" if line.get("isTopInning", True) else "Bottom"
    score = ", ".join(
        f"{teams[side]['abbreviation']} {line['teams'][side].get('runs', 0)}"
        for side in ("away", "home")
    )
    return f"{half} {line.get('currentInning', 1)}", score


def replay(
    settings: Settings,
    world: LiveWorld,
    snapshots: list[dict[str, Any]],
    speed: float,
    say: Say,
    alive: Callable[[], None],
) -> None:
    """Publish the snapshots at the game's pace; one line per half inning or score change."""
    game_pk = int(snapshots[-1]["gamePk"])
    waits = pacing(snapshots, speed)
    told: tuple[str, str] | None = None

    def pace(i: int) -> None:
        nonlocal told
        until = time.monotonic() + waits[i]
        while (left := until - time.monotonic()) > 0:
            alive()
            time.sleep(min(left, 0.5))
        now = situation(snapshots[i])
        if now != told:
            say(f"  {now[0]:<11} {now[1]:<16} snapshot {i + 1} of {len(snapshots)}")
            told = now

    publish(settings, game_pk, snapshots, lambda *_: None, topic=world.topic, pace=pace)


def run_live(
    settings: Settings, feed: dict[str, Any], every: int, speed: float, port: int, say: Say
) -> None:
    """The live demo; returns only by an exception (KeyboardInterrupt: Ctrl-C)."""
    if not port_is_free(port, settings.api_host):
        raise DemoError(f"port {port} is taken: choose another with --port")
    snapshots = simulate(feed, every)
    game_pk = int(feed["gamePk"])
    logs = settings.stack_dir / "logs"
    with private_world(settings, secrets.token_hex(4)) as world:
        say(f"private topic {world.topic}, schema {world.schema} (removed at the end)")
        bytewax = [sys.executable, "-m", "bytewax.run", "flows.live_stats:flow", "-w", "1"]
        api = [sys.executable, "-m", "mlbsts.commands.cli", "api", "--port", str(port)]
        api += ["--host", settings.api_host]
        worker_log, api_log = logs / "demo-live-worker.log", logs / "demo-live-api.log"
        with (
            child("worker", bytewax, worker_env(settings, world), worker_log) as worker,
            child("API", api, api_env(world), api_log) as server,
        ):
            procs = {"worker": (worker, worker_log), "API": (server, api_log)}

            def alive() -> None:
                check_alive(procs)

            url = f"http://{settings.api_host}:{port}"
            wait_healthy(url, alive)
            key = create_key(world.dsn, "demo-live", SCOPES, 100_000).key
            date = feed["gameData"]["datetime"]["officialDate"]
            say(f"page: {url}/live/game/{game_pk}#key={key}")
            say(f"scoreboard: {url}/live/?date={date}#key={key}")
            say(f"API key (this run only, every scope): {key}")
            say(f"replaying {len(snapshots)} snapshots at {speed:g}x; Ctrl-C stops the demo")
            replay(settings, world, snapshots, speed, say, alive)
            say("the game is Final: the page and the API stay up until Ctrl-C")
            while True:
                alive()
                time.sleep(0.5)
