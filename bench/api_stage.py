"""The stage of the API's benchmark and tests: real data, a real server, private names.

- :func:`private_schema`: a fresh PostgreSQL schema on the configured server, migrated
  (``sql/``), dropped afterwards;
- :func:`fill_game`: a real game's snapshots (a recorded final feed, simulated at a
  polling cadence) through the real dataflow into that schema's tables;
- :func:`api_process`: ``mlbsts api`` (the real command) on a free loopback port, pointed
  at that schema and at a Redis key prefix of its own, stopped afterwards.

Nothing here touches the names other programs use: the schema and the Redis prefix are
unique, and both are removed at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import psycopg
import redis
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.testing import TestingSink, TestingSource, run_main
from psycopg import sql
from psycopg.conninfo import make_conninfo

from connectors.envelope_serde import encode_envelope
from connectors.pg_game_tables import GameTablesSink
from connectors.pg_normalized import NormalizedEventsSink
from connectors.pg_stats import PgLiveStatsSink, PgPitcherStatsSink, PgWindowStatsSink
from flows.game.envelope import make_envelope
from flows.live_stats import FlowSinks, build_flow
from mlbsts import topics
from mlbsts.settings import Settings
from mlbsts.stack.migrations import apply_migrations
from mlbsts.waiting import first_answer, http_ok
from sim.simulate import simulate

__all__ = ["ApiProcess", "api_env", "api_process", "fill_game", "free_port", "private_schema"]
__all__ += ["snapshot_messages", "unique"]

ALL = slice(None)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def private_schema(settings: Settings, prefix: str = "api_") -> Iterator[str]:
    """A fresh migrated schema; yields a DSN whose ``search_path`` is that schema."""
    name = unique(prefix)
    base = settings.postgres_dsn.get_secret_value()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        dsn = make_conninfo(base, options=f"-c search_path={name}")
        apply_migrations(dsn)
        yield dsn
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def snapshot_messages(
    feed: dict[str, Any], every: int, part: slice = ALL
) -> list[KafkaSourceMessage[bytes, bytes]]:
    """The raw-topic messages a poller would have published for ``feed`` at ``every``
    (only the ``part`` of them)."""
    game_pk = int(feed["gamePk"])
    out = []
    snapshots = list(enumerate(simulate(feed, every)))[part]
    for offset, snap in snapshots:
        envelope = make_envelope(
            game_pk=game_pk,
            body=orjson.dumps(snap),
            source_url=f"https://statsapi.mlb.com/api/v1.1/game/{game_pk}/feed/live",
            status_code=200,
            captured_at=datetime(2024, 7, 1, tzinfo=UTC),
            feed=snap,
        )
        out.append(
            KafkaSourceMessage(
                key=str(game_pk).encode(),
                value=encode_envelope(envelope),
                topic=topics.RAW_GAME_SNAPSHOTS,
                partition=0,
                offset=offset,
            )
        )
    return out


def fill_game(dsn: str, feed: dict[str, Any], every: int = 5, part: slice = ALL) -> None:
    """Run the real dataflow over ``feed``'s snapshots (the ``part`` of them) into the
    tables of ``dsn``. Parts run one after the other continue the game: the engine starts
    afresh, and the sinks' guards keep the rows a newer snapshot wrote."""
    sinks = FlowSinks(
        raw_postgres=TestingSink([]),
        raw_s3=TestingSink([]),
        log=TestingSink([]),
        events_postgres=NormalizedEventsSink(dsn),
        game_postgres=GameTablesSink(dsn),
        live_postgres=PgLiveStatsSink(dsn),
        pitchers_postgres=PgPitcherStatsSink(dsn),
        windows_postgres=PgWindowStatsSink(dsn),
    )
    run_main(build_flow(TestingSource(snapshot_messages(feed, every, part)), sinks))


def api_env(settings: Settings, dsn: str, **more: str) -> dict[str, str]:
    """The environment of an API process on ``dsn`` with a Redis prefix of its own."""
    return {
        **os.environ,
        "MLBSTS_POSTGRES_DSN": dsn,
        "MLBSTS_REDIS_URL": settings.redis_url,
        "MLBSTS_API_REDIS_PREFIX": unique("mlbsts:test-api:") + ":",
        **more,
    }


@dataclass(frozen=True)
class ApiProcess:
    url: str
    log_path: Path
    pid: int


def _mlbsts() -> list[str]:
    script = Path(sys.executable).parent / "mlbsts"  # the console script, when installed
    return [str(script)] if script.is_file() else [sys.executable, "-m", "mlbsts.commands.cli"]


@contextmanager
def api_process(env: dict[str, str], log_path: Path, start_s: float = 60) -> Iterator[ApiProcess]:
    """``mlbsts api`` on a free port until the block ends; waits for ``/healthz``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [*_mlbsts(), "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(proc, url, log_path, start_s)
        yield ApiProcess(url, log_path, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        _drop_redis_prefix(env)


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log_path: Path, start_s: float) -> None:
    def alive() -> None:
        if proc.poll() is not None:
            raise RuntimeError(f"mlbsts api exited {proc.returncode}: {log_path.read_text()}")

    if not first_answer(partial(http_ok, f"{url}/healthz", 1.0), start_s, alive=alive):
        raise RuntimeError(f"mlbsts api not healthy in {start_s:.0f} s: {log_path.read_text()}")


def _drop_redis_prefix(env: dict[str, str]) -> None:
    prefix = env.get("MLBSTS_API_REDIS_PREFIX", "")
    if not prefix.startswith("mlbsts:test-api:"):
        return  # only the private prefixes api_env makes
    client = redis.Redis.from_url(env["MLBSTS_REDIS_URL"], socket_timeout=5)
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
    except redis.RedisError:
        pass  # a test that took Redis away; its keys expire on their own
    finally:
        client.close()
