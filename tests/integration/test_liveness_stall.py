"""Liveness means progress: a worker whose sink is stalled fails ``/livez``, then recovers.

A real worker (``python -m bytewax.run flows.live_stats:flow``) follows the raw topic of a
private stack (every dev port + 8000, its own folder) holding a real game's snapshots.
Once it has stored some, PostgreSQL is frozen with SIGSTOP (the postmaster and every
backend): the sinks' writes hang, the worker blocks and stops polling its input, while a
poller-like thread keeps publishing the rest of the game, so there is input to read.
``/livez`` must turn 503 ("no progress ... records to read") once
``MLBSTS_HEALTH_STALL_S`` has passed, and ``/readyz`` must name PostgreSQL. After SIGCONT
the same worker process goes on and ``/livez`` is 200 again; its ``/metrics`` then show the
snapshots, the data age at each stage and the lag. Nothing is timed but the bounded waits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from mlbsts import demo, stack
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings, get_settings
from mlbsts.waiting import first_answer
from sim.simulate import simulate

pytestmark = pytest.mark.integration

OFFSET = -4000  # this test's private ports: Kafka 15092, S3 14333, PostgreSQL 11432, Redis 12379
STALL_S = 5.0  # MLBSTS_HEALTH_STALL_S of the worker
EVERY = 3  # a snapshot every 3 pitches
WAIT_S = 120.0  # the longest any state below is waited for


@pytest.fixture
def private(tmp_path: Path) -> Iterator[Settings]:
    """The private stack (all four servers), purged before and after."""
    dev = get_settings()
    settings = Settings(
        stack_dir=tmp_path / "stack",
        kafka_bootstrap_servers=f"127.0.0.1:{dev.kafka_port + OFFSET}",
        s3_endpoint=f"127.0.0.1:{dev.s3_port + OFFSET}",
        postgres_dsn=SecretStr(
            f"postgresql://mlbsts:mlbsts@127.0.0.1:{dev.postgres_port + OFFSET}/mlbsts"
        ),
        redis_url=f"redis://127.0.0.1:{dev.redis_port + OFFSET}/0",
    )
    stack.down(settings, purge=True)
    assert stack.up(settings).healthy
    yield settings
    stack.down(settings, purge=True)


def worker_env(settings: Settings, port: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLBSTS_")},
        "MLBSTS_STACK_DIR": str(settings.stack_dir),
        "MLBSTS_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "MLBSTS_S3_ENDPOINT": settings.s3_endpoint,
        "MLBSTS_POSTGRES_DSN": settings.postgres_dsn.get_secret_value(),
        "MLBSTS_REDIS_URL": settings.redis_url,
        "MLBSTS_WORKER_TELEMETRY_PORT": str(port),
        "MLBSTS_HEALTH_STALL_S": str(STALL_S),
        "MLBSTS_LOG_FORMAT": "json",
        "MLBSTS_LOG_LEVEL": "INFO",
        # the stall outlasts nothing: no write gives up while PostgreSQL is frozen
        "MLBSTS_SINK_QUEUE_BYTES": str(1024 * 1024),
        "MLBSTS_POSTGRES_REQUEST_TIMEOUT_S": "900",
        "MLBSTS_SINK_OUTAGE_BUDGET_S": "900",
        "PYTHONUNBUFFERED": "1",
    }


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:  # not listening yet
        return 0, str(e)


def wait_for(what: str, check: Callable[[], Any], proc: subprocess.Popen[bytes], log: Path) -> Any:
    """``check()``'s first truthy answer within ``WAIT_S``; the worker must stay up."""

    def alive() -> None:
        assert proc.poll() is None, (
            f"the worker exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
        )

    answer = first_answer(check, WAIT_S, alive=alive, every_s=0.5)
    assert answer, f"not within {WAIT_S:.0f} s: {what}\n{log.read_text()[-3000:]}"
    return answer


def postgres_pids(settings: Settings) -> list[int]:
    """The private PostgreSQL's postmaster and its children (backends, background workers)."""
    record = json.loads((settings.stack_dir / "pids" / "postgres.json").read_text())
    root = int(record["pid"])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == root:
            children.append(int(stat.parent.name))
    return [root, *children]


def freeze(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a backend that ended meanwhile
            os.kill(pid, sig)


def raw_rows(settings: Settings) -> int:
    with psycopg.connect(settings.postgres_dsn.get_secret_value(), connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM raw_game_snapshots").fetchone()
    return int(row[0]) if row else 0


def series(text: str, name: str) -> float:
    """The sum of every series of ``name`` in a scrape (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def worker(
    private: Settings, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port = 9464 + OFFSET
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", "flows.live_stats:flow", "-w", "1"],
            cwd=PROJECT_ROOT,
            env=worker_env(private, port),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    yield proc, port, log
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_a_stalled_sink_fails_liveness_and_recovers(
    private: Settings,
    worker: tuple[subprocess.Popen[bytes], int, Path],
    fixture_feed: dict[str, Any],
) -> None:
    proc, port, log = worker
    game_pk = int(fixture_feed["gamePk"])
    snapshots = simulate(fixture_feed, EVERY)
    half = len(snapshots) // 2
    demo.publish(private, game_pk, snapshots[:half], lambda *_: None)

    wait_for(
        "live and storing",
        lambda: get(port, "/livez")[0] == 200 and raw_rows(private) > 10,
        proc,
        log,
    )
    pids = postgres_pids(private)
    stop = threading.Event()

    def keep_publishing() -> None:  # the poller goes on: there is input to read
        for snap in snapshots[half:]:
            if stop.wait(0.3):
                return
            demo.publish(private, game_pk, [snap], lambda *_: None)

    publisher = threading.Thread(target=keep_publishing, daemon=True)
    freeze(pids, signal.SIGSTOP)
    try:
        publisher.start()
        status, body = wait_for("liveness fails", lambda: _failing(port), proc, log)
        verdict = json.loads(body)
        assert status == 503 and "no progress for" in verdict["reason"], verdict
        assert "records to read" in verdict["reason"], verdict
        ready_status, ready = get(port, "/readyz")
        assert ready_status == 503 and "postgres" in json.loads(ready)["reason"], ready
    except BaseException:
        stop.set()
        raise
    finally:
        freeze(pids, signal.SIGCONT)
    publisher.join(WAIT_S)  # the rest of the game, published while the worker catches up
    assert not publisher.is_alive()
    wait_for("liveness recovers", lambda: get(port, "/livez")[0] == 200, proc, log)
    wait_for("ready again", lambda: get(port, "/readyz")[0] == 200, proc, log)
    published = len({s["metaData"]["timeStamp"] for s in snapshots})
    wait_for("every snapshot stored", lambda: raw_rows(private) == published, proc, log)

    metrics = get(port, "/metrics")[1]
    assert series(metrics, 'mlbsts_up{process="worker"}') == 1
    assert series(metrics, 'mlbsts_snapshots_total{outcome="accepted"}') == len(snapshots)
    assert series(metrics, 'mlbsts_data_age_seconds_count{stage="events_produced"}') > 0
    assert series(metrics, 'mlbsts_data_age_seconds_count{stage="postgres_committed"}') > 0
    assert 'mlbsts_consumer_lag_records{partition="' in metrics
    assert series(metrics, "mlbsts_worker_progress_timestamp_seconds") > time.time() - WAIT_S
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines and all(line["process"] == "worker" for line in lines)


def _failing(port: int) -> tuple[int, str] | None:
    status, body = get(port, "/livez")
    return (status, body) if status == 503 else None
