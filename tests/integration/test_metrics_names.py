"""The alert rules and the dashboard name only metrics that the running processes export.

Real processes on the local stack, each on private resources:

- a worker (``python -m bytewax.run flows.live_stats:flow``) reading a fresh topic that holds
  a real game's snapshots (the repository's fixture 744914, polled every 10 pitches) and one
  unparsable record, into a fresh PostgreSQL schema and S3 bucket;
- a poller (``mlbsts ingest``) following that game on ``sim.replay_server`` (a corpus of that
  one feed) into fresh topics;
- the API (``mlbsts api``), asked once.

Their ``/metrics`` are scraped until every metric that a rule of
``deploy/prometheus/rules/mlbsts.rules.yaml`` or a panel of the Grafana dashboard names has
appeared, or the processes have done all their work. The test then fails naming each missing
metric, and each label value a rule matches (``stage="postgres_committed"``,
``process="ingest"``) that no series carries.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from connectors.kafka_io import OutRecord, produce_all, producer_config
from mlbsts import demo
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from mlbsts.stack.migrations import apply_migrations
from sim.corpus import Corpus
from sim.replay_server import ReplayClock, ReplayServer, start_of_day
from sim.simulate import simulate
from tests.conftest import FIXTURE_GAME_PK, FIXTURES, load_fixture_feed
from tests.integration.conftest import snapshot_and_schedule_topics, unique
from tests.unit.monitoring_files import (
    RULES,
    alert_rules,
    dashboard,
    equality_matchers,
    metric_names,
    panel_exprs,
)

pytestmark = pytest.mark.integration

EVERY = 10
DAY = date(2024, 7, 1)  # the fixture game's date
SPEED = 600.0
WAIT_S = 180  # the longest the processes may take to export everything
SETTLE_ROUNDS = 10  # scrapes after the work is done before concluding something is missing
MLBSTS = str(Path(sys.executable).parent / "mlbsts")


def required() -> dict[str, set[str]]:
    """Metric name → where it is named (alerts, panels)."""
    out: dict[str, set[str]] = {}
    for rule in alert_rules(RULES):
        for name in metric_names(rule["expr"]):
            out.setdefault(name, set()).add(f"alert {rule['alert']}")
    for title, expr in panel_exprs(dashboard()):
        for name in metric_names(expr):
            out.setdefault(name, set()).add(f"panel {title!r}")
    return out


def required_labels() -> set[tuple[str, str, str]]:
    exprs = [r["expr"] for r in alert_rules(RULES)] + [e for _, e in panel_exprs(dashboard())]
    return {m for expr in exprs for m in equality_matchers(expr)}


@dataclass
class Exported:
    """What the scrapes saw: metric names, (name, label, value) triples, and the latest
    total of each series name per process (to tell when the work is done)."""

    names: set[str] = field(default_factory=set)
    labels: set[tuple[str, str, str]] = field(default_factory=set)
    totals: dict[tuple[str, str], float] = field(default_factory=dict)

    def add(self, process: str, text: str) -> None:
        totals: dict[tuple[str, str], float] = {}
        for family in text_string_to_metric_families(text):
            self.names.add(family.name)
            for sample in family.samples:
                self.names.add(sample.name)
                self.labels |= {(sample.name, k, v) for k, v in sample.labels.items()}
                key = (process, sample.name + "".join(f"|{v}" for v in sample.labels.values()))
                totals[key] = totals.get(key, 0.0) + sample.value
        self.totals |= totals

    def total(self, process: str, series: str) -> float:
        return self.totals.get((process, series), 0.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def input_topic(stack_settings: Settings) -> Iterator[tuple[str, int]]:
    """A fresh raw topic: the fixture game's snapshots and one unparsable record."""
    admin = AdminClient({"bootstrap.servers": stack_settings.kafka_bootstrap_servers})
    name = unique("test-metrics-raw-")
    for future in admin.create_topics([NewTopic(name, num_partitions=2)]).values():
        future.result(timeout=30)
    feed = load_fixture_feed()
    snapshots = simulate(feed, EVERY)
    demo.publish(stack_settings, FIXTURE_GAME_PK, snapshots, lambda *_: None, name)
    garbage = OutRecord(name, str(FIXTURE_GAME_PK).encode(), b"not an envelope")
    produce_all(Producer(producer_config(stack_settings)), [garbage])
    yield name, len(snapshots) + 1
    for future in admin.delete_topics([name]).values():
        future.result(timeout=30)


@pytest.fixture
def worker_env(stack_settings: Settings, s3_bucket: str, pg_schema: str) -> dict[str, str]:
    base = stack_settings.postgres_dsn.get_secret_value()
    dsn = f"{base}?options=-csearch_path%3D{pg_schema}"
    apply_migrations(dsn)
    return {"MLBSTS_POSTGRES_DSN": dsn, "MLBSTS_S3_BUCKET": s3_bucket}


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[ReplayServer]:
    """The replay server on a corpus made of the fixture feed alone."""
    feeds = tmp_path / "mlb" / "feed_live"
    feeds.mkdir(parents=True)
    raw = gzip.decompress((FIXTURES / f"{FIXTURE_GAME_PK}.feed_live.json.gz").read_bytes())
    (feeds / f"{FIXTURE_GAME_PK}.json").write_bytes(raw)
    corpus = Corpus(tmp_path, every=EVERY)
    with ReplayServer(corpus, ReplayClock(start_of_day(corpus, DAY), SPEED)) as server:
        yield server


class Processes:
    """The started processes, each with its /metrics URL and log; all stopped at exit."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: dict[str, tuple[subprocess.Popen[bytes], str]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str], url: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                argv, cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=log, stderr=log
            )
        self.running[name] = (proc, url)

    def scrape(self, client: httpx.Client, seen: Exported) -> None:
        for name, (proc, url) in self.running.items():
            if proc.poll() is None:
                try:
                    answer = client.get(url)
                except httpx.HTTPError:
                    continue  # not listening yet
                if answer.status_code == 200:
                    seen.add(name, answer.text)

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {name} (exit {proc.poll()}):\n"
            + (self.logs / f"{name}.log").read_text(errors="replace")[-1500:]
            for name, (proc, _) in self.running.items()
        )

    def stop(self) -> None:
        for proc, _ in self.running.values():
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.running.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    yield started
    started.stop()


def _start_all(
    processes: Processes,
    input_topic: tuple[str, int],
    worker_env: dict[str, str],
    replay: ReplayServer,
    topics: tuple[str, str],
) -> None:
    worker, ingest, api = (_free_port() for _ in range(3))
    local = {"MLBSTS_TELEMETRY_HOST": "127.0.0.1"}
    processes.start(
        "worker",
        [sys.executable, "-m", "bytewax.run", "flows.live_stats:flow", "-w", "1"],
        {**local, **worker_env, "MLBSTS_FLOW_INPUT_TOPIC": input_topic[0],
         "MLBSTS_WORKER_TELEMETRY_PORT": str(worker)},
        f"http://127.0.0.1:{worker}/metrics",
    )  # fmt: skip
    snap, sched = topics
    processes.start(
        "ingest",
        [MLBSTS, "ingest", "--date", DAY.isoformat(), "--base-url", replay.url,
         "--speed", str(SPEED), "--snapshots-topic", snap, "--schedules-topic", sched,
         "--max-runtime", str(WAIT_S + 60)],
        {**local, "MLBSTS_INGEST_TELEMETRY_PORT": str(ingest), "MLBSTS_MLB_API_RATE_PER_S": "50"},
        f"http://127.0.0.1:{ingest}/metrics",
    )  # fmt: skip
    processes.start(
        "api",
        [MLBSTS, "api", "--host", "127.0.0.1", "--port", str(api), "--no-access-log"],
        {},
        f"http://127.0.0.1:{api}/metrics",
    )


def _work_done(seen: Exported, records: int) -> bool:
    """The worker took every record of its topic, and the poller published."""
    taken = seen.total("worker", "mlbsts_snapshots_total|accepted")
    taken += seen.total("worker", "mlbsts_snapshots_total|dead_letter")
    return taken >= records and seen.total("ingest", "mlbsts_polls_total|published") > 0


def test_every_metric_of_the_rules_and_the_dashboard_is_exported(
    input_topic: tuple[str, int],
    worker_env: dict[str, str],
    replay: ReplayServer,
    processes: Processes,
    stack_settings: Settings,
) -> None:
    wanted = required()
    with snapshot_and_schedule_topics(stack_settings, "test-metrics") as topics:
        _start_all(processes, input_topic, worker_env, replay, topics)
        seen = Exported()
        deadline, settled = time.monotonic() + WAIT_S, 0
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline and settled < SETTLE_ROUNDS:
                ask_the_api(client, processes)
                processes.scrape(client, seen)
                if not set(wanted) - seen.names and required_labels() <= seen.labels:
                    break
                if any(p.poll() is not None for p, _ in processes.running.values()):
                    break  # a process ended: its log says why
                settled = settled + 1 if _work_done(seen, input_topic[1]) else 0
                time.sleep(1)
    missing = {name: sorted(where) for name, where in wanted.items() if name not in seen.names}
    unmatched = sorted(required_labels() - seen.labels)
    assert not missing and not unmatched, (
        f"named in deploy/ but exported by no process: {missing}; "
        f"label values no series has: {unmatched}\n{processes.log_tails()}"
    )
    for process in ("worker", "ingest", "api"):  # one telemetry set-up in every process
        assert seen.total(process, f"mlbsts_up|{process}") == 1, process


def ask_the_api(client: httpx.Client, processes: Processes) -> None:
    """One API request, so that its request metrics have a series."""
    proc, url = processes.running["api"]
    if proc.poll() is None:
        with contextlib.suppress(httpx.HTTPError):  # not listening yet
            client.get(url.replace("/metrics", "/healthz"))
