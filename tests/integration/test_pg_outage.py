"""PostgreSQL sinks through outages, on a private PostgreSQL of their own (dev ports + 6000).

The server is really stopped (the stack's own stop, then started again) and really hung
(SIGSTOP of the postmaster and every backend), so the shared local stack is never
touched. What must hold:

- a write started while the server is down waits it out and succeeds, rows written once;
- a hung server never blocks a write longer than ``request_timeout_s``: the watchdog
  drops the connection, the write retries and succeeds once the server runs again;
- past the outage budget the write raises, naming PostgreSQL;
- a statistics row the database refuses for its data becomes a dead letter, and the rest
  of its batch is written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql

from connectors.pg_stats import PgPitcherStatsSink
from connectors.postgres import PgLimits, PostgresError
from connectors.raw_sinks import RawPostgresSink
from flows.game.accepted import AcceptedSnapshot
from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.stats.pitchers import PitcherStats
from mlbsts import stack
from mlbsts.settings import Settings, get_settings
from mlbsts.stack import supervisor
from mlbsts.stack.layout import Layout
from mlbsts.stack.postgres import PostgresServer
from mlbsts.stack.process import ProcessRecord, family
from sim.simulate import simulate
from tests.integration.test_pg_normalized import _accepted

pytestmark = pytest.mark.integration

PORT_OFFSET = -2000  # private ports: clear of the dev stack, other tests, the ephemeral range
LOG = "connectors.sink_retry"
# small limits, so each outage takes seconds; the budget is generous unless a test needs one
FAST = PgLimits(
    connect_timeout_s=2, statement_timeout_s=10, request_timeout_s=2, outage_budget_s=60
)


@pytest.fixture(scope="module")
def pg_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A private stack of PostgreSQL alone, migrations applied; removed after the module."""
    dev = get_settings()
    port = dev.postgres_port + PORT_OFFSET
    settings = Settings(
        stack_dir=tmp_path_factory.mktemp("pg-outage") / "stack",
        postgres_dsn=f"postgresql://mlbsts:mlbsts@127.0.0.1:{port}/mlbsts",
        s3_endpoint=f"127.0.0.1:{dev.s3_port + PORT_OFFSET}",
        kafka_bootstrap_servers=f"127.0.0.1:{dev.kafka_port + PORT_OFFSET}",
        redis_url=f"redis://127.0.0.1:{dev.redis_port + PORT_OFFSET}/0",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(supervisor, "SERVERS", (PostgresServer(),))
        stack.down(settings, purge=True)
        try:
            assert stack.up(settings).healthy
            yield settings
        finally:
            stack.down(settings, purge=True)


@pytest.fixture
def dsn(pg_settings: Settings) -> str:
    """The private database, running, its tables empty."""
    stack.up(pg_settings)  # starts PostgreSQL again if a test left it stopped
    dsn = pg_settings.postgres_dsn.get_secret_value()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in ("raw_game_snapshots", "pitcher_live_stats"):  # a few rows: no TRUNCATE
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
    return dsn


@pytest.fixture(scope="module")
def snapshots(fixture_feed: dict[str, Any]) -> list[AcceptedSnapshot]:
    return [_accepted(orjson.dumps(s)) for s in simulate(fixture_feed, 60)[:3]]


def _stored(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [str(r[0]) for r in conn.execute("SELECT feed_timestamp FROM raw_game_snapshots")]


def _stamps(items: list[AcceptedSnapshot]) -> list[str]:
    return sorted(str(i.envelope.feed_timestamp) for i in items)


def _later(delay: float, action: Callable[[], object]) -> threading.Thread:
    """Run ``action`` ``delay`` seconds from now on a thread (join it to wait)."""
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()))
    thread.start()
    return thread


def _postgres_pids(settings: Settings) -> list[int]:
    """The private PostgreSQL: the postmaster and all its backends and helpers."""
    record = ProcessRecord.load(Layout(settings.stack_dir).record("postgres"))
    assert record is not None
    return sorted(family(record))


def _resume(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a backend whose client left
            os.kill(pid, signal.SIGCONT)


def test_a_write_waits_out_a_stopped_server(
    pg_settings: Settings,
    dsn: str,
    snapshots: list[AcceptedSnapshot],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = RawPostgresSink(dsn, limits=FAST).build("raw", 0, 1)
    assert supervisor.stop(pg_settings, "postgres")
    restart = _later(5.0, lambda: stack.up(pg_settings))
    try:
        with caplog.at_level(logging.WARNING, logger=LOG):
            sink.write_batch(snapshots)  # started while the server is down
    finally:
        restart.join()
        sink.close()
    assert sorted(_stored(dsn)) == _stamps(snapshots)  # each once
    retries = [r.getMessage() for r in caplog.records if r.name == LOG]
    assert retries and all(m.startswith("PostgreSQL: sink raw partition 0 failed") for m in retries)


def test_a_hung_server_costs_one_request_timeout_per_attempt(
    pg_settings: Settings,
    dsn: str,
    snapshots: list[AcceptedSnapshot],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = RawPostgresSink(dsn, limits=FAST).build("raw", 0, 1)
    sink.write_batch(snapshots[:1])  # the session's connection is open
    stopped: list[int] = []
    try:
        for pid in _postgres_pids(pg_settings):  # the postmaster first: it forks no more
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        resume = _later(5.0, lambda: _resume(stopped))
        began = time.time()  # the clock of log records
        with caplog.at_level(logging.WARNING, logger=LOG):
            sink.write_batch(snapshots[1:])  # blocks on the hung server, then retries
        resume.join()
    finally:
        _resume(stopped)
        sink.close()
    assert sorted(_stored(dsn)) == _stamps(snapshots)
    first = next(r for r in caplog.records if r.name == LOG)
    assert "no answer from PostgreSQL within 2 s" in first.getMessage()
    assert first.created - began < FAST.request_timeout_s + 3.0  # not blocked beyond it


def test_past_the_budget_the_write_raises_naming_postgresql(
    pg_settings: Settings, dsn: str, snapshots: list[AcceptedSnapshot]
) -> None:
    limits = PgLimits(
        connect_timeout_s=2, statement_timeout_s=10, request_timeout_s=2, outage_budget_s=3
    )
    sink = RawPostgresSink(dsn, limits=limits).build("raw", 0, 1)
    assert supervisor.stop(pg_settings, "postgres")
    began = time.monotonic()
    try:
        with pytest.raises(PostgresError, match=r"^PostgreSQL unreachable for 3 s \(sink raw"):
            sink.write_batch(snapshots)
        took = time.monotonic() - began
    finally:
        sink.close()
        stack.up(pg_settings)
    assert 3.0 <= took < 3.0 + 5.0
    assert _stored(dsn) == []


def _pitcher(pitcher_id: int, pitches: int) -> PitcherStats:
    return PitcherStats(
        gamePk=744914,
        pitcherId=pitcher_id,
        source_ts="20240712_230000",
        pitches=pitches,
        last_n=0,
        velo_mean=None,
        velo_max=None,
        window_start=None,
        window_pitches=0,
        window_velo_mean=None,
        window_velo_max=None,
        fastballs=0,
        fb_baseline=None,
        fb_recent=None,
        fatigue=False,
    )


def test_a_statistics_row_the_database_refuses_becomes_a_dead_letter(dsn: str) -> None:
    bad = _pitcher(2, 2**40)  # pitcher_live_stats.pitches is an integer: 22003 out of range
    letters: list[DeadLetter] = []
    sink = PgPitcherStatsSink(dsn, letters.append, limits=FAST).build("pitchers", 0, 1)
    try:
        sink.write_batch([_pitcher(1, 10), bad, _pitcher(3, 30)])
    finally:
        sink.close()
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT pitcher_id, pitches FROM pitcher_live_stats ORDER BY 1")
        assert rows.fetchall() == [(1, 10), (3, 30)]
    assert [(d.error_class, d.gamePk) for d in letters] == [(ErrorClass.DB_REJECTED, 744914)]
    reason = letters[0].reason
    assert "pitcher 2 in game 744914" in reason and "out of range" in reason
    assert orjson.loads(letters[0].original_value or b"")["pitches"] == 2**40
