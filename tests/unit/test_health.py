"""Health that means something (mlbsts/telemetry/health.py, progress.py, readiness.py,
server.py): liveness from progress, readiness from reaching the servers, and the small
server that answers them."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from mlbsts.telemetry.health import (
    InputPartition,
    Verdict,
    poller_liveness,
    progress_time,
    readiness,
    worker_liveness,
)
from mlbsts.telemetry.progress import InputProgress
from mlbsts.telemetry.readiness import Readiness
from mlbsts.telemetry.server import HealthServer

pytestmark = pytest.mark.unit

STALL = 60.0


def part(last_poll: float, lag: int | None, partition: int = 0) -> InputPartition:
    return InputPartition("mlb.raw.game-snapshots", partition, 10, last_poll, lag)


@pytest.mark.parametrize(
    ("parts", "alive", "reason"),
    [
        ([], True, "no input partition"),
        ([part(1000, 0), part(100, 0, 1)], True, "idle: nothing to read"),  # idle, not polled
        ([part(990, 5)], True, "making progress"),
        ([part(100, None)], True, "the lag is unknown"),  # broker unreachable: no restart
        ([part(930, 7)], False, "no progress for 70 s with 7 records to read"),
        ([part(999, 3), part(900, 2, 1)], False, "on mlb.raw.game-snapshots[1]"),
    ],
)
def test_worker_liveness_is_progress_while_there_is_input(
    parts: list[InputPartition], alive: bool, reason: str
) -> None:
    verdict = worker_liveness(1000.0, parts, STALL)
    assert verdict.ok is alive
    assert reason in verdict.reason


def test_the_worker_verdict_shows_each_partition() -> None:
    verdict = worker_liveness(1000.0, [part(930, 7)], STALL)
    body = verdict.as_json()
    assert body["ok"] is False
    assert body["partitions"] == {"mlb.raw.game-snapshots[0]": {"lag": 7, "polled_s_ago": 70.0}}


def test_progress_time_is_the_slowest_partition_or_now() -> None:
    assert progress_time(1000.0, [part(990, 1), part(950, 0, 1)]) == 950.0
    assert progress_time(1000.0, []) == 1000.0


@pytest.mark.parametrize(
    ("last_tick", "alive"),
    [(995.0, True), (930.0, False), (None, True)],  # None: started at 990, no turn yet
)
def test_poller_liveness_is_its_loop_turning(last_tick: float | None, alive: bool) -> None:
    assert poller_liveness(1000.0, last_tick, 990.0, STALL).ok is alive
    assert not poller_liveness(2000.0, None, 990.0, STALL).ok  # never turned since start


def test_readiness_needs_every_required_server() -> None:
    ok = readiness({"kafka": None, "postgres": None, "redis": "refused"}, {"kafka", "postgres"})
    assert ok.ok and ok.detail["checks"] == {"kafka": "ok", "postgres": "ok", "redis": "refused"}
    failed = readiness({"kafka": None, "postgres": "timed out"}, {"kafka", "postgres", "s3"})
    assert not failed.ok
    assert failed.reason == "not reached: postgres, s3 (not checked)"


def test_input_progress_keeps_position_time_and_lag() -> None:
    now = [100.0]
    progress = InputProgress(clock=lambda: now[0])
    progress.polled("raw", 0, -2)  # OFFSET_BEGINNING: nothing read yet
    progress.set_lag("raw", 0, 12)
    now[0] = 105.0
    progress.polled("raw", 0, 40)
    progress.set_lag("raw", 9, 1)  # not read here: ignored
    assert progress.owned() == [("raw", 0, 40)]
    assert progress.partitions() == [InputPartition("raw", 0, 40, 105.0, 12)]
    progress.closed("raw", 0)
    assert progress.partitions() == [] and progress.progress_time() == 105.0


def test_readiness_checks_run_bounded_and_redacted() -> None:
    hang = threading.Event()

    def refused() -> None:
        raise ConnectionError("postgresql://u:hunter2-password@db/x refused")

    checks = {
        "ok": lambda: None,
        "refused": refused,
        "hung": lambda: hang.wait(5) and None,
    }
    ready = Readiness(
        checks,
        {"ok", "refused"},
        timeout_s=0.2,
        redact=lambda t: t.replace("hunter2-password", "***"),
    )
    try:
        results = ready.run()
    finally:
        hang.set()
    assert results["ok"] is None
    assert results["refused"] == "ConnectionError: postgresql://u:***@db/x refused"
    assert results["hung"] == "no answer in 0.2 s"
    assert not ready().ok  # cached afterwards
    assert ready() is ready()


@pytest.fixture
def server() -> Iterator[HealthServer]:
    registry = CollectorRegistry()
    Counter("mlbsts_demo_things", "things", registry=registry).inc(3)
    health = HealthServer("127.0.0.1", 0, registry).start()
    yield health
    health.close()


def _get(server: HealthServer, path: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_server_answers_metrics_and_verdicts(server: HealthServer) -> None:
    status, body = _get(server, "/metrics")
    assert status == 200 and b"mlbsts_demo_things_total 3.0" in body
    server.liveness = lambda: Verdict(False, "stalled", {"lag": 4})
    status, body = _get(server, "/livez")
    assert status == 503 and json.loads(body) == {"ok": False, "reason": "stalled", "lag": 4}
    server.readiness = lambda: Verdict(True, "every required server reached")
    assert _get(server, "/readyz")[0] == 200
    assert _get(server, "/nothing")[0] == 404


def test_a_probe_that_raises_is_a_failing_verdict(server: HealthServer) -> None:
    def broken() -> Verdict:
        raise RuntimeError("bug")

    server.readiness = broken
    status, body = _get(server, "/readyz")
    assert status == 503 and json.loads(body)["reason"] == "probe failed: RuntimeError"
