"""End-to-end throughput and latency of the live dataflow on the local stack.

Real games are replayed concurrently at ``SPEED`` times real speed: each game's snapshots
(one per pitch, ``sim.simulate``) are published to a fresh raw topic at their feed time
divided by the speed, while production workers (``python -m bytewax.run
flows.live_stats:flow``) follows that topic into a fresh Postgres schema and bucket.

Latency of a snapshot, from just before it is produced:
- to the raw tier: ``raw_game_snapshots.stored_at`` (the flow's first sink);
- to the event topics: the CreateTime of the first event record carrying its
  ``(gamePk, source_ts)`` (when the worker produced it), and when a consumer read it back;
- to PostgreSQL: ``live_box_scores.updated_at`` (set by the server in the transaction that
  stored that snapshot's box score) for the rows a poller sees.

Each run gets a private stack of its own (``bench.private_stack``: fresh data, other ports), torn
down after: Tansu's S3 engine gets slower as a partition's history grows (a fetch lists the
partition's objects), so a long-used dev stack would measure its own age, not the flow.

The corpus has 7 games; to reach ``GAMES`` concurrent streams the others are load copies of
real games under a shifted gamePk (``bench.load``), labelled as such in the report.
"""

from __future__ import annotations

import logging
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql

from bench.load import Planned, schedule, streams
from bench.private_stack import private_stack
from connectors import s3
from connectors.event_serde import decode_event_value
from connectors.kafka_follow import subscriber_config
from connectors.kafka_io import producer_config
from connectors.kafka_read import mark
from connectors.records import TOPIC_OF_KIND
from mlbsts import stack
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from mlbsts.stack.migrations import apply_migrations

log = logging.getLogger("bench.e2e")

GAMES = 15
SPEED = 30.0
DURATION_S = 90.0

#: librdkafka settings laid over ``subscriber_config`` for the read-back consumer
ConsumerOverrides = dict[str, str | int | bool]


@dataclass
class Run:
    published: dict[tuple[int, str], float] = field(default_factory=dict)
    to_topics: dict[tuple[int, str], float] = field(default_factory=dict)
    produced: dict[tuple[int, str], float] = field(default_factory=dict)  # record CreateTime
    to_postgres: dict[tuple[int, str], float] = field(default_factory=dict)
    to_raw: dict[tuple[int, str], float] = field(default_factory=dict)
    events: int = 0
    rss_kb: list[int] = field(default_factory=list)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _consume_events(
    settings: Settings, run: Run, stop: threading.Event, overrides: ConsumerOverrides
) -> None:
    """Read the event topics from where they are now (``kafka_read.mark``): the topics are
    shared with every other run, and only records made in this run count. ``overrides``
    change the reader's librdkafka settings (``bench.subscriber_bench`` compares them)."""
    marks = {t: mark(settings, t) for t in TOPIC_OF_KIND.values()}
    consumer = Consumer(
        {
            **subscriber_config(settings),  # what `mlbsts tail` uses
            "group.id": "bench",
            "enable.auto.commit": False,
            **overrides,
        }
    )
    consumer.assign(
        [TopicPartition(t, p, o) for t, m in marks.items() for p, o in m.offsets.items()]
    )
    try:
        while not stop.is_set():
            for msg in consumer.consume(500, 0.1):
                if msg.error() is not None or msg.value() is None:
                    continue
                _, created_ms = msg.timestamp()
                if created_ms < marks[msg.topic() or ""].since_ms:
                    continue
                now = time.time()
                event = decode_event_value(msg.topic() or "", msg.value() or b"")
                run.events += 1
                run.to_topics.setdefault((event.gamePk, event.source_ts), now)
                run.produced.setdefault((event.gamePk, event.source_ts), created_ms / 1000)
    finally:
        consumer.close()


def _poll_postgres(dsn: str, run: Run, stop: threading.Event) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            for pk, ts, at in conn.execute(
                "SELECT game_pk, source_ts, updated_at FROM live_box_scores"
            ):
                run.to_postgres.setdefault((int(pk), str(ts)), at.timestamp())
            time.sleep(0.05)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _workers(processes: int, env: dict[str, str], log: Path) -> list[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "bytewax.run", "flows.live_stats:flow", "-w", "1"]
    addresses = ";".join(f"127.0.0.1:{_free_port()}" for _ in range(processes))
    procs = []
    with log.open("wb") as out:
        for i in range(processes):
            extra = ["-i", str(i), "-a", addresses] if processes > 1 else []
            procs.append(
                subprocess.Popen(
                    argv + extra, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
                )
            )
    return procs


@dataclass(frozen=True)
class _Target:
    """Where one run writes: a fresh raw topic, Postgres schema and bucket."""

    topic: str
    schema: str
    bucket: str
    base_dsn: str  # the stack's database

    @property
    def dsn(self) -> str:  # the run's schema first on the search path
        return f"{self.base_dsn}?options=-csearch_path%3D{self.schema}"


def _provision(settings: Settings, admin: AdminClient) -> _Target:
    tag = f"bench{int(time.time())}"
    target = _Target(
        topic=f"{tag}-raw",
        schema=f"{tag}_tables",
        bucket=f"{tag}-objects",
        base_dsn=settings.postgres_dsn.get_secret_value(),
    )
    for fut in admin.create_topics([NewTopic(target.topic, num_partitions=3)]).values():
        fut.result(timeout=30)
    with psycopg.connect(target.base_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(target.schema)))
    apply_migrations(target.dsn)
    s3.client(settings).make_bucket(target.bucket)
    return target


def _drop(admin: AdminClient, target: _Target) -> None:
    with psycopg.connect(target.base_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(target.schema)))
    for fut in admin.delete_topics([target.topic]).values():
        fut.result(timeout=30)


def _publish(
    settings: Settings,
    topic: str,
    plan: list[Planned],
    run: Run,
    workers: list[subprocess.Popen[bytes]],
) -> float:
    """Produce ``plan`` on its schedule, sampling the workers' RSS; the seconds it took."""
    producer = Producer(producer_config(settings))
    began = time.monotonic()
    for at, pk, stamp, value in plan:
        delay = began + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        run.published[(pk, stamp)] = time.time()
        producer.produce(topic, value=value, key=str(pk).encode())
        producer.poll(0)
        if len(run.published) % 50 == 0:
            run.rss_kb.append(sum(_rss_kb(w.pid) for w in workers))
    producer.flush(30)
    return time.monotonic() - began


def _wait_for_events(run: Run, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(run.to_topics) < len(run.published):
        time.sleep(0.2)


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        w.terminate()
    for w in workers:
        try:
            w.wait(20)
        except subprocess.TimeoutExpired:
            w.kill()


def _read_raw_tier(dsn: str, run: Run) -> None:
    with psycopg.connect(dsn) as conn:
        for pk, ts, stored in conn.execute(
            "SELECT game_pk, feed_timestamp, stored_at FROM raw_game_snapshots"
        ):
            run.to_raw[(int(pk), str(ts))] = stored.timestamp()


def _watchers(
    settings: Settings, dsn: str, run: Run, stop: threading.Event, overrides: ConsumerOverrides
) -> list[threading.Thread]:
    """Started threads that note when each snapshot reaches the topics and PostgreSQL."""
    threads = [
        threading.Thread(
            target=_consume_events, args=(settings, run, stop, overrides), daemon=True
        ),
        threading.Thread(target=_poll_postgres, args=(dsn, run, stop), daemon=True),
    ]
    for t in threads:
        t.start()
    return threads


def measure(
    settings: Settings,
    feeds: list[Path],
    processes: int,
    *,
    games: int = GAMES,
    speed: float = SPEED,
    keep: bool = False,
    stack_env: dict[str, str] | None = None,
    consumer_overrides: ConsumerOverrides | None = None,
) -> tuple[Run, int, int, float]:
    """Run the load on the stack of ``settings`` (``stack_env`` points the workers at it);
    ``keep`` leaves the schema and topic for inspection; ``consumer_overrides`` change the
    read-back consumer's settings."""
    stack.up(settings)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    target = _provision(settings, admin)
    loads = streams(feeds, games)
    plan = schedule(loads, speed, DURATION_S)
    copies = sum(1 for _, copy, _ in loads if copy)
    del loads
    env = {
        **os.environ,
        **(stack_env or {}),
        "MLBSTS_FLOW_INPUT_TOPIC": target.topic,
        "MLBSTS_POSTGRES_DSN": target.dsn,
        "MLBSTS_S3_BUCKET": target.bucket,
    }
    logs = settings.stack_dir / "logs" / "bench-worker.log"
    run = Run()
    stop = threading.Event()
    workers = _workers(processes, env, logs)
    threads = _watchers(settings, target.dsn, run, stop, consumer_overrides or {})
    try:
        time.sleep(5)  # worker start-up (Bytewax ~1.3 s, connections, partition assignment)
        idle_rss = sum(_rss_kb(w.pid) for w in workers)
        log.info("e2e: %d snapshots of %d streams over %.0f s ...", len(plan), games, DURATION_S)
        publish_s = _publish(settings, target.topic, plan, run, workers)
        _wait_for_events(run)
        run.rss_kb.append(sum(_rss_kb(w.pid) for w in workers))
        assert all(w.poll() is None for w in workers), logs.read_text()[-2000:]
    finally:
        stop.set()
        _stop_workers(workers)
        for t in threads:
            t.join(10)
        _read_raw_tier(target.dsn, run)
        if not keep:
            _drop(admin, target)
    return run, idle_rss, copies, publish_s


def _latencies(run: Run, seen: dict[tuple[int, str], float], after_s: float) -> list[float]:
    first = min(run.published.values())
    return [seen[k] - t for k, t in run.published.items() if k in seen and t - first >= after_s]


def _row(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name} | no sample | |"
    return (
        f"| {name} | {len(values)} | {1000 * statistics.median(values):.0f} / "
        f"{1000 * _pct(values, 0.99):.0f} / {1000 * max(values):.0f} |"
    )


def report(
    settings: Settings,
    feeds: list[Path],
    processes: int = 1,
    *,
    games: int = GAMES,
    speed: float = SPEED,
) -> str:
    with private_stack(settings) as (private, env):
        run, idle_rss, copies, publish_s = measure(
            private, feeds, processes, games=games, speed=speed, stack_env=env
        )
    peak = max(run.rss_kb or [idle_rss])
    lines = [
        f"## End to end: {games} games at {speed:.0f}x, {processes} worker process(es)",
        "",
        f"{games} games replayed concurrently at {speed:.0f}x ({min(games, len(feeds))} real "
        "games; "
        f"{copies} load copies of them under shifted gamePks), one snapshot per pitch, "
        f"{DURATION_S:.0f} s of wall time; {processes} worker process(es) of one worker "
        "each. Latency from just before a snapshot is produced to: the raw tier (the flow's "
        "first sink, `raw_game_snapshots.stored_at`), the live box score in PostgreSQL "
        "(`live_box_scores.updated_at`, rows a poller saw), its first event produced by the "
        "worker (the record's CreateTime) and read back from the event topics by this "
        "harness's own consumer (which adds its own fetch lag on Tansu). Goal: p99 < 1 s. "
        "On a private embedded stack started fresh for this run.",
        "",
        f"Published {len(run.published)} snapshots in {publish_s:.1f} s "
        f"({len(run.published) / publish_s:.1f}/s); {run.events} event records read back; "
        f"{len(run.to_topics)} snapshots' events seen on the topics.",
        "",
        "| latency to | samples | p50 / p99 / max ms |",
        "|---|---:|---:|",
    ]
    for label, after in (("whole run", 0.0), ("after the first 10 s (warm-up)", 10.0)):
        lines += [
            _row(f"raw tier, {label}", _latencies(run, run.to_raw, after)),
            _row(f"live box score in PostgreSQL, {label}", _latencies(run, run.to_postgres, after)),
            _row(f"events produced by the worker, {label}", _latencies(run, run.produced, after)),
            _row(
                f"events read back from the topics, {label}", _latencies(run, run.to_topics, after)
            ),
        ]
    lines += [
        "",
        f"Worker RSS idle {idle_rss / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB: "
        f"{(peak - idle_rss) / 1024 / games:.2f} MiB per live game "
        "(engine state alone is ~20 KB per game late in a game, see above).",
        "",
    ]
    return "\n".join(lines)
