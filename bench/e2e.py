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

Each run gets a private stack of its own (``private_stack``: fresh data, other ports), torn
down after: Tansu's S3 engine gets slower as a partition's history grows (a fetch lists the
partition's objects), so a long-used dev stack would measure its own age, not the flow.

The corpus has 7 games; to reach ``GAMES`` concurrent streams the others are load copies of
real games under a shifted gamePk (``+ COPY_PK_OFFSET * n``), labelled as such in the report.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql
from pydantic import SecretStr

from connectors import s3
from connectors.envelope_serde import encode_envelope
from connectors.event_serde import decode_event_value
from connectors.kafka_io import consumer_config, producer_config
from connectors.kafka_read import mark
from connectors.records import TOPIC_OF_KIND
from flows.game.envelope import make_envelope, parse_feed_timestamp
from mlbsts import stack
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from mlbsts.stack.migrations import apply_migrations
from sim.simulate import simulate

log = logging.getLogger("bench.e2e")

GAMES = 15
SPEED = 30.0
DURATION_S = 90.0
COPY_PK_OFFSET = 100_000_000


@dataclass
class Run:
    published: dict[tuple[int, str], float] = field(default_factory=dict)
    to_topics: dict[tuple[int, str], float] = field(default_factory=dict)
    produced: dict[tuple[int, str], float] = field(default_factory=dict)  # record CreateTime
    to_postgres: dict[tuple[int, str], float] = field(default_factory=dict)
    to_raw: dict[tuple[int, str], float] = field(default_factory=dict)
    events: int = 0
    rss_kb: list[int] = field(default_factory=list)


def _streams(feeds: list[Path], games: int) -> list[tuple[int, bool, list[dict[str, Any]]]]:
    """(gamePk, is_copy, snapshots) for ``games`` streams."""
    out = []
    for n in range(games):
        path = feeds[n % len(feeds)]
        feed = orjson.loads(path.read_bytes())
        copy = n >= len(feeds)
        pk = int(feed["gamePk"]) + (COPY_PK_OFFSET * (n // len(feeds)) if copy else 0)
        snaps = simulate(feed, 1)
        if copy:
            snaps = [orjson.loads(orjson.dumps(s)) for s in snaps]
            for s in snaps:
                s["gamePk"] = pk
                s["gameData"]["game"]["pk"] = pk
        out.append((pk, copy, snaps))
    return out


def _schedule(
    streams: list[tuple[int, bool, list[dict[str, Any]]]], speed: float
) -> list[tuple[float, int, str, bytes]]:
    """(seconds after start, gamePk, feed timestamp, encoded envelope), each game starting
    at its first pitch. Encoding (JSON, gzip, Avro) is done here, before the clock starts,
    so the publisher does not compete with the worker for the CPU."""
    plan = []
    for pk, _, snaps in streams:
        first = parse_feed_timestamp(snaps[0]["metaData"]["timeStamp"])
        for snap in snaps:
            stamp = snap["metaData"]["timeStamp"]
            at = (parse_feed_timestamp(stamp) - first).total_seconds() / speed
            if at > DURATION_S:
                break
            envelope = make_envelope(
                game_pk=pk,
                body=orjson.dumps(snap),
                source_url="bench",
                status_code=200,
                captured_at=datetime.now(UTC),
                feed=snap,
            )
            plan.append((at, pk, stamp, encode_envelope(envelope)))
    return sorted(plan, key=lambda p: p[0])


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _consume_events(settings: Settings, run: Run, stop: threading.Event) -> None:
    """Read the event topics from where they are now (``kafka_read.mark``): the topics are
    shared with every other run, and only records made in this run count."""
    marks = {t: mark(settings, t) for t in TOPIC_OF_KIND.values()}
    consumer = Consumer(
        {**consumer_config(settings), "group.id": "bench", "enable.auto.commit": False}
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


#: ports of the private stack (the dev stack's defaults + 10000)
PRIVATE_PORTS = {"kafka": 29092, "s3": 28333, "postgres": 25432, "redis": 26379}


@contextmanager
def private_stack(settings: Settings) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A fresh embedded stack beside the dev one: its settings and the environment that
    points workers at it. Stopped and deleted on exit."""
    p = PRIVATE_PORTS
    env = {
        "MLBSTS_STACK_DIR": str(settings.stack_dir / "bench-stack"),
        "MLBSTS_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{p['kafka']}",
        "MLBSTS_S3_ENDPOINT": f"127.0.0.1:{p['s3']}",
        "MLBSTS_POSTGRES_DSN": f"postgresql://mlbsts:mlbsts@127.0.0.1:{p['postgres']}/mlbsts",
        "MLBSTS_REDIS_URL": f"redis://127.0.0.1:{p['redis']}/0",
    }
    private = Settings(
        stack_dir=Path(env["MLBSTS_STACK_DIR"]),
        kafka_bootstrap_servers=env["MLBSTS_KAFKA_BOOTSTRAP_SERVERS"],
        s3_endpoint=env["MLBSTS_S3_ENDPOINT"],
        postgres_dsn=SecretStr(env["MLBSTS_POSTGRES_DSN"]),
        redis_url=env["MLBSTS_REDIS_URL"],
    )
    stack.down(private, purge=True)  # left over from an interrupted run
    try:
        stack.up(private)
        yield private, env
    finally:
        stack.down(private, purge=True)


def measure(
    settings: Settings,
    feeds: list[Path],
    processes: int,
    *,
    games: int = GAMES,
    speed: float = SPEED,
    keep: bool = False,
    stack_env: dict[str, str] | None = None,
) -> tuple[Run, int, int, float]:
    """Run the load on the stack of ``settings`` (``stack_env`` points the workers at it);
    ``keep`` leaves the schema and topic for inspection."""
    stack_env = stack_env or {}
    stack.up(settings)
    tag = f"bench{int(time.time())}"
    topic, schema, bucket = f"{tag}-raw", f"{tag}_tables", f"{tag}-objects"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for fut in admin.create_topics([NewTopic(topic, num_partitions=3)]).values():
        fut.result(timeout=30)
    base = settings.postgres_dsn.get_secret_value()
    dsn = f"{base}?options=-csearch_path%3D{schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    apply_migrations(dsn)
    s3.client(settings).make_bucket(bucket)
    streams = _streams(feeds, games)
    plan = _schedule(streams, speed)
    copies = sum(1 for _, copy, _ in streams if copy)
    del streams
    env = {
        **os.environ,
        **stack_env,
        "MLBSTS_FLOW_INPUT_TOPIC": topic,
        "MLBSTS_POSTGRES_DSN": dsn,
        "MLBSTS_S3_BUCKET": bucket,
    }
    logs = settings.stack_dir / "logs" / "bench-worker.log"
    run = Run()
    stop = threading.Event()
    workers = _workers(processes, env, logs)
    threads = [
        threading.Thread(target=_consume_events, args=(settings, run, stop), daemon=True),
        threading.Thread(target=_poll_postgres, args=(dsn, run, stop), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        time.sleep(5)  # worker start-up (Bytewax ~1.3 s, connections, partition assignment)
        idle_rss = sum(_rss_kb(w.pid) for w in workers)
        producer = Producer(producer_config(settings))
        began = time.monotonic()
        log.info("e2e: %d snapshots of %d streams over %.0f s ...", len(plan), games, DURATION_S)
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
        publish_s = time.monotonic() - began
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(run.to_topics) < len(run.published):
            time.sleep(0.2)
        run.rss_kb.append(sum(_rss_kb(w.pid) for w in workers))
        assert all(w.poll() is None for w in workers), logs.read_text()[-2000:]
    finally:
        stop.set()
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
        for t in threads:
            t.join(10)
        with psycopg.connect(dsn) as conn:
            for pk, ts, stored in conn.execute(
                "SELECT game_pk, feed_timestamp, stored_at FROM raw_game_snapshots"
            ):
                run.to_raw[(int(pk), str(ts))] = stored.timestamp()
        if not keep:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            for fut in admin.delete_topics([topic]).values():
                fut.result(timeout=30)
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
