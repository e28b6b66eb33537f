"""Recovery proof: a worker killed with SIGKILL mid-stream and restarted with the same
recovery directory leaves the tables, the archive and the topics as an uninterrupted run.

For each layout (1 worker; 2 workers in one process; 2 processes), real Bytewax worker
processes read the same input topic (real games, simulated polling) twice:

- run A, uninterrupted, into its own Postgres schema and S3 bucket;
- run B, with recovery (``-r DIR -s 1 -b 0``), killed with SIGKILL once a part of the input
  is stored, then restarted with the same directory until it reaches the end.

Then every table of B equals A's row for row, B's bucket holds the same objects with the
same bytes, and B wrote every event id that A wrote, repeats only as exact duplicates.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from connectors import s3
from connectors.event_serde import decode_event_value
from connectors.kafka_read import Mark, mark, read_topic
from connectors.records import TOPIC_OF_KIND
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from mlbsts.stack.migrations import apply_migrations
from tests.e2e.feeds import raw_topic, real_feeds
from tests.integration.conftest import unique

pytestmark = [pytest.mark.e2e, pytest.mark.corpus]

EVERY = 2
RUN_TIMEOUT_S = 240
VOLATILE_COLUMNS = {"stored_at", "updated_at"}
LAYOUTS = {
    "1-worker": (1, ["-w", "1"]),
    "2-workers": (1, ["-w", "2"]),
    "2-processes": (2, []),
}


@pytest.fixture(scope="module")
def input_topic(stack_settings: Settings) -> Iterator[tuple[str, int]]:
    """A fresh raw topic holding the polling sequences of real games; (name, snapshots)."""
    with raw_topic(stack_settings, EVERY) as topic:
        yield topic


class Target:
    """A Postgres schema (migrated) and an S3 bucket of their own, for one run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.schema = unique("test_")
        self.bucket = unique("test-")
        base = settings.postgres_dsn.get_secret_value()
        self.dsn = f"{base}?options=-csearch_path%3D{self.schema}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
        apply_migrations(self.dsn)
        s3.client(settings).make_bucket(self.bucket)

    def env(self, topic: str) -> dict[str, str]:
        return {
            **os.environ,
            "MLBSTS_FLOW_INPUT_TOPIC": topic,
            "MLBSTS_FLOW_STOP_AT_END": "true",
            "MLBSTS_POSTGRES_DSN": self.dsn,
            "MLBSTS_S3_BUCKET": self.bucket,
        }

    def raw_rows(self) -> int:
        with psycopg.connect(self.dsn) as conn:
            row = conn.execute("SELECT count(*) FROM raw_game_snapshots").fetchone()
        return int(row[0]) if row else 0

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table of the schema (partitions by their parent), sorted rows."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with psycopg.connect(self.dsn) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                    "AND c.relname NOT LIKE '%%yoyo%%'",
                    (self.schema,),
                )
            ]
            for table in names:
                cols = [
                    r[0]
                    for r in conn.execute(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                        (self.schema, table),
                    )
                    if r[0] not in VOLATILE_COLUMNS
                ]
                query = sql.SQL("SELECT {} FROM {}").format(
                    sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in cols),
                    sql.Identifier(table),
                )
                out[table] = sorted(conn.execute(query).fetchall(), key=repr)
        return out

    def objects(self) -> dict[str, str]:
        client = s3.client(self.settings)
        return {
            str(o.object_name): str(o.etag)
            for o in client.list_objects(self.bucket, recursive=True)
        }

    def drop(self) -> None:
        base = self.settings.postgres_dsn.get_secret_value()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(self.schema)))
        client = s3.client(self.settings)
        for o in client.list_objects(self.bucket, recursive=True):
            client.remove_object(self.bucket, str(o.object_name))
        client.remove_bucket(self.bucket)


def _start(
    target: Target, topic: str, processes: int, extra: list[str], recovery: Path | None, log: Path
) -> list[subprocess.Popen[bytes]]:
    base = [sys.executable, "-m", "bytewax.run", "flows.live_stats:flow", *extra]
    if recovery is not None:
        base += ["-r", str(recovery), "-s", "1", "-b", "0"]
    procs = []
    addresses = ";".join(f"127.0.0.1:{_free_port()}" for _ in range(processes))
    for i in range(processes):
        argv = base + (["-i", str(i), "-a", addresses] if processes > 1 else [])
        with log.open("ab") as out:
            procs.append(
                subprocess.Popen(
                    argv, cwd=PROJECT_ROOT, env=target.env(topic), stdout=out, stderr=out
                )
            )
    return procs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(procs: list[subprocess.Popen[bytes]], log: Path) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    for proc in procs:
        try:
            proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail(
                f"dataflow did not finish in {RUN_TIMEOUT_S}s; log: {log.read_text()[-3000:]}"
            )
        assert proc.returncode == 0, log.read_text()[-3000:]


def _events_since(settings: Settings, since: dict[str, Mark]) -> dict[tuple[str, int], set[bytes]]:
    """Events of this test's games written after ``since`` (other runs share the topics)."""
    games = {str(f["gamePk"]).encode() for f in real_feeds()}
    seen: dict[tuple[str, int], set[bytes]] = defaultdict(set)
    for topic in TOPIC_OF_KIND.values():
        # the event topics are shared and Tansu fetches slow down as their history grows
        for msg in read_topic(settings, topic, start=since[topic], timeout_s=180):
            if msg.key() in games:
                event = decode_event_value(topic, msg.value() or b"")
                seen[(event.event_id, event.revision)].add(msg.value() or b"")
    return seen


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_sigkill_mid_stream_then_resume_equals_an_uninterrupted_run(
    stack_settings: Settings, input_topic: tuple[str, int], tmp_path: Path, layout: str
) -> None:
    topic, total = input_topic
    processes, extra = LAYOUTS[layout]
    a, b = Target(stack_settings), Target(stack_settings)
    try:
        offsets_a = {t: mark(stack_settings, t) for t in TOPIC_OF_KIND.values()}
        _wait(_start(a, topic, processes, extra, None, tmp_path / "a.log"), tmp_path / "a.log")
        assert a.raw_rows() == total
        offsets_b = {t: mark(stack_settings, t) for t in TOPIC_OF_KIND.values()}
        events_a = _events_since(stack_settings, offsets_a)

        recovery = tmp_path / "recovery"
        recovery.mkdir()
        subprocess.run(
            [sys.executable, "-m", "bytewax.recovery", str(recovery), str(max(2, processes))],
            check=True,
            cwd=PROJECT_ROOT,
        )
        log = tmp_path / "b.log"
        procs = _start(b, topic, processes, extra, recovery, log)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while b.raw_rows() < total * 0.4:
            assert all(p.poll() is None for p in procs), "finished before it could be killed"
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait(10)
        killed_at = b.raw_rows()
        assert killed_at < total, "the kill came after the end: nothing was interrupted"
        _wait(_start(b, topic, processes, extra, recovery, log), log)

        assert b.tables() == a.tables()
        assert b.objects() == a.objects()
        events_b = _events_since(stack_settings, offsets_b)
        assert {k[0] for k in events_b} == {k[0] for k in events_a}
        assert set(events_b) == set(events_a)
        for key, values in events_b.items():
            assert values == events_a[key], key  # repeats only as exact duplicates
    finally:
        a.drop()
        b.drop()
