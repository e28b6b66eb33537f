"""The sinks' retry policy (an outage budget, with a fake clock: no real waiting), what
counts as transient for PostgreSQL and S3, the PostgreSQL connection parameters and the
client-side watchdog."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, cast

import psycopg
import pytest
import urllib3
from minio.error import S3Error, ServerError
from psycopg.conninfo import conninfo_to_dict

from connectors import postgres, s3
from connectors.postgres import PgLimits, PostgresError
from connectors.s3 import ObjectStoreError
from connectors.sink_retry import MAX_WAIT_S, RetryPolicy, backoff
from mlbsts.settings import Settings

pytestmark = pytest.mark.unit


class FakeTime:
    """A clock that moves only when the policy sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _policy(budget: float, time: FakeTime, rand: float = 0.5) -> RetryPolicy:
    return RetryPolicy(budget, clock=time.clock, sleep=time.sleep, rand=lambda: rand)


class Failing:
    """A write that fails ``times`` times (each taking ``takes`` s of fake time), then
    returns "written"."""

    def __init__(self, time: FakeTime, error: Exception, times: int, takes: float = 0.0) -> None:
        self.time, self.error, self.times, self.takes = time, error, times, takes
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        self.time.now += self.takes
        if self.calls <= self.times:
            raise self.error
        return "written"


def test_success_after_failures_returns_and_logs_each_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    time = FakeTime()
    write = Failing(time, PostgresError("connection refused", transient=True), times=4)
    with caplog.at_level(logging.WARNING, logger="connectors.sink_retry"):
        assert _policy(300, time).call(write, "sink raw partition 0") == "written"
    assert write.calls == 5
    assert time.sleeps == [backoff(n, 0.5) for n in range(1, 5)]
    assert len(caplog.records) == 4
    first = caplog.records[0].getMessage()
    assert first.startswith("PostgreSQL: sink raw partition 0 failed (attempt 1), retrying in")
    assert "connection refused" in first


def test_the_budget_elapsed_raises_naming_the_server_and_the_time() -> None:
    time = FakeTime()
    write = Failing(time, PostgresError("server closed the connection", transient=True), 10**6)
    with pytest.raises(PostgresError) as raised:
        _policy(300, time).call(write, "sink stats partition 1")
    message = str(raised.value)
    assert message.startswith("PostgreSQL unreachable for 300 s (sink stats partition 1, ")
    assert "server closed the connection" in message
    assert not raised.value.transient  # an outer policy would not retry it again
    assert sum(time.sleeps) == pytest.approx(300)  # the last wait is cut to the budget
    assert max(time.sleeps) <= MAX_WAIT_S
    assert write.calls == len(time.sleeps) + 1


def test_the_budget_counts_from_the_first_failure_and_slow_attempts_count() -> None:
    time = FakeTime()
    time.now += 50  # a write that started long ago: only failures count
    write = Failing(time, ObjectStoreError("read timed out", transient=True), 10**6, takes=30)
    with pytest.raises(ObjectStoreError, match=r"^S3 unreachable for 126 s"):
        _policy(100, time).call(write, "sink raw_to_s3 partition 0")
    # failures 30 s after the start, then 30.4, 61.1, 92.6 and 125.6 s after the first
    # (waits 0.375, 0.75, 1.5, 3): the fifth is past the budget, and raises
    assert write.calls == 5 and len(time.sleeps) == 4


def test_a_non_transient_error_is_raised_at_once() -> None:
    time = FakeTime()
    refused = PostgresError('relation "plays" does not exist')
    write = Failing(time, refused, times=1)
    with pytest.raises(PostgresError) as raised:
        _policy(300, time).call(write, "sink events")
    assert raised.value is refused and write.calls == 1 and time.sleeps == []


def test_other_exceptions_are_not_retried() -> None:
    time = FakeTime()
    write = Failing(time, ValueError("a bug"), times=1)
    with pytest.raises(ValueError, match="a bug"):
        _policy(300, time).call(write, "sink events")
    assert write.calls == 1


@pytest.mark.parametrize("rand", [0.0, 0.999])
def test_backoff_grows_with_jitter_and_is_capped(rand: float) -> None:
    waits = [backoff(n, rand) for n in range(1, 40)]
    assert waits == sorted(waits)
    assert 0.25 <= waits[0] <= 0.5
    assert waits[-1] == pytest.approx(MAX_WAIT_S / 2 + rand * MAX_WAIT_S / 2)


# --- what is transient ---


def test_postgres_errors_are_transient_when_the_connection_or_server_is_the_problem() -> None:
    lost = postgres.failed("upsert", psycopg.OperationalError("server closed the connection"))
    assert lost.transient and "upsert failed: server closed" in str(lost)
    assert postgres.failed("upsert", psycopg.errors.QueryCanceled("statement timeout")).transient
    assert postgres.failed("upsert", psycopg.errors.AdminShutdown("terminating")).transient
    assert not postgres.failed("upsert", psycopg.errors.UndefinedTable("no plays")).transient
    assert not postgres.failed("upsert", psycopg.DataError("NUL")).transient


class _Response:
    def __init__(self, status: int) -> None:
        self.status = status


def _s3_error(status: int, code: str) -> S3Error:
    return S3Error(cast(Any, _Response(status)), code, "m", "/b/k", "r", "h")


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (urllib3.exceptions.ReadTimeoutError(cast(Any, None), "/", "read timed out"), True),
        (urllib3.exceptions.ProtocolError("connection reset"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (ServerError("server failed with HTTP status code 502", 502), True),
        (_s3_error(503, "SlowDown"), True),
        (_s3_error(500, "InternalError"), True),
        (_s3_error(400, "RequestTimeout"), True),
        (_s3_error(404, "NoSuchBucket"), False),
        (_s3_error(403, "AccessDenied"), False),
    ],
)
def test_s3_errors_are_transient_unless_the_server_answered_no(
    error: Exception, transient: bool
) -> None:
    assert s3.is_transient(error) is transient


# --- PostgreSQL connection parameters and watchdog ---


def test_conninfo_adds_the_limits_and_keeps_the_dsns_options() -> None:
    dsn = "postgresql://u:p@127.0.0.1:15432/db?options=-csearch_path%3Dtest_x"
    limits = PgLimits(
        connect_timeout_s=2.5, statement_timeout_s=60, request_timeout_s=90, outage_budget_s=300
    )
    params = conninfo_to_dict(postgres.conninfo(dsn, limits))
    assert params["options"] == "-csearch_path=test_x -c statement_timeout=60000"
    assert params["connect_timeout"] == "3"  # libpq takes whole seconds
    assert params["keepalives"] == "1" and params["tcp_user_timeout"] == "90000"
    assert (params["host"], params["port"], params["dbname"]) == ("127.0.0.1", "15432", "db")


def test_pg_limits_default_to_the_settings_defaults() -> None:
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    assert PgLimits() == PgLimits(
        connect_timeout_s=defaults["postgres_connect_timeout_s"],
        statement_timeout_s=defaults["postgres_statement_timeout_s"],
        request_timeout_s=defaults["postgres_request_timeout_s"],
        outage_budget_s=defaults["sink_outage_budget_s"],
    )


class _Conn:
    """The one thing the watchdog uses of a connection: its socket's descriptor."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()


def test_the_watchdog_wakes_a_call_blocked_on_a_silent_peer() -> None:
    ours, peer = socket.socketpair()  # the peer never answers
    try:
        with postgres.Watchdog(cast(postgres.Connection, _Conn(ours)), 0.2) as dog:
            assert ours.recv(1) == b""  # blocked until the watchdog shut the socket down
        assert dog.fired
    finally:
        ours.close()
        peer.close()


def test_a_disarmed_watchdog_leaves_the_socket_alone() -> None:
    ours, peer = socket.socketpair()
    try:
        with postgres.Watchdog(cast(postgres.Connection, _Conn(ours)), 0.05) as dog:
            peer.sendall(b"x")
            assert ours.recv(1) == b"x"
        threading.Event().wait(0.2)  # longer than the watchdog's time
        peer.sendall(b"y")
        assert ours.recv(1) == b"y" and not dog.fired
    finally:
        ours.close()
        peer.close()
