"""PostgreSQL edge: connections that cannot hang, and the raw-tier writer.

Every connection (:func:`connect`, :class:`Session`) is bounded on all sides
(:class:`PgLimits`, from the settings ``postgres_*_timeout_s``):

- opening it: ``connect_timeout``;
- a statement the server runs too long: ``statement_timeout`` (sent in ``options``);
- a peer that vanished: TCP keepalives and ``tcp_user_timeout`` (unacknowledged data);
- a server that accepts bytes but never answers (stopped with SIGSTOP, swapped out, a
  frozen VM: the kernel still acknowledges, so none of the above fires): a client-side
  watchdog (:class:`Watchdog`) shuts the connection's socket down once one write of a
  :class:`Session` has taken ``request_timeout_s``. The blocked call then fails at once
  with ``OperationalError``, and the session reconnects on the next attempt. psycopg 3
  has no per-call timeout of its own (its wait functions only poll for interrupts).

A lost connection always surfaces as a *transient* ``PostgresError``: the rollback after a
failure may fail too on a dead connection, and it is then dropped, not raised in place of
the first error. Transient errors are retried by the sinks (``connectors.sink_retry``).

Writes are idempotent upserts on natural keys (docs/architecture.md, "Rules of the code"),
so a replay or a resumed worker repeating its last epoch lands nothing twice. A batch the
database refuses for its data (SQLSTATE class 22, data exception, or 23, integrity
violation; ``write_or_reject``) is written again item by item, and each item it still
refuses is handed back as rejected (it becomes a dead letter), so one bad row never stops
the flow. Exceptions::

    PostgresError (connectors.sink_retry.ServerError)   the database refused or could not
                                   be reached; says which table and game; ``transient``
                                   for a lost connection, a timeout, an overloaded server
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from typing import TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb

from connectors.sink_retry import ServerError
from flows.game.envelope import SnapshotEnvelope
from mlbsts.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

Connection = psycopg.Connection[tuple[object, ...]]

KEEPALIVE_IDLE_S = 30  # idle seconds before the first keepalive probe
KEEPALIVE_INTERVAL_S = 10
KEEPALIVE_COUNT = 3


class PostgresError(ServerError):
    """Broken infrastructure: the database refused a write or is unreachable."""

    server = "PostgreSQL"


def _default(name: str) -> float:
    default = Settings.model_fields[name].default
    assert isinstance(default, float)
    return default


@dataclass(frozen=True, slots=True)
class PgLimits:
    """How long a PostgreSQL sink waits, in seconds; the defaults are the settings'."""

    connect_timeout_s: float = _default("postgres_connect_timeout_s")
    statement_timeout_s: float = _default("postgres_statement_timeout_s")
    request_timeout_s: float = _default("postgres_request_timeout_s")
    outage_budget_s: float = _default("sink_outage_budget_s")  # connectors.sink_retry

    @classmethod
    def of(cls, settings: Settings) -> PgLimits:
        return cls(
            connect_timeout_s=settings.postgres_connect_timeout_s,
            statement_timeout_s=settings.postgres_statement_timeout_s,
            request_timeout_s=settings.postgres_request_timeout_s,
            outage_budget_s=settings.sink_outage_budget_s,
        )


def conninfo(dsn: str, limits: PgLimits) -> str:
    """``dsn`` with the limits' connection parameters; a ``statement_timeout`` is added to
    the DSN's own ``options`` (e.g. a ``search_path``), which are kept."""
    options = str(conninfo_to_dict(dsn).get("options") or "")
    statement_ms = math.ceil(limits.statement_timeout_s * 1000)
    return make_conninfo(
        dsn,
        options=f"{options} -c statement_timeout={statement_ms}".strip(),
        connect_timeout=max(1, math.ceil(limits.connect_timeout_s)),  # libpq: whole seconds
        keepalives=1,
        keepalives_idle=KEEPALIVE_IDLE_S,
        keepalives_interval=KEEPALIVE_INTERVAL_S,
        keepalives_count=KEEPALIVE_COUNT,
        tcp_user_timeout=math.ceil(limits.request_timeout_s * 1000),
    )


def is_transient(error: psycopg.Error) -> bool:
    """Waiting may help: a lost or refused connection, a timeout, an overloaded or
    restarting server, a serialization failure (psycopg's ``OperationalError``)."""
    return isinstance(error, psycopg.OperationalError)


def failed(what: str, error: psycopg.Error) -> PostgresError:
    """The ``PostgresError`` saying ``what`` failed (raise it ``from error``)."""
    return PostgresError(f"{what} failed: {error}", transient=is_transient(error))


def connect(dsn: str, limits: PgLimits | None = None) -> Connection:
    """A connection (not autocommit) bounded by ``limits`` (default: the settings' defaults)."""
    try:
        return psycopg.connect(conninfo(dsn, limits or PgLimits()), autocommit=False)
    except psycopg.Error as e:
        raise failed("connecting to PostgreSQL", e) from e


def rollback_quietly(conn: Connection) -> None:
    """Roll back after a failure. On a lost connection the rollback fails as well: the
    connection is then closed (the session reconnects), and the first error is the one
    reported."""
    try:
        conn.rollback()
    except psycopg.Error:
        conn.close()


class Watchdog:
    """Context manager: if the block runs longer than ``seconds``, shut the connection's
    socket down, so that the call blocked on it fails at once (``fired`` is then True).

    It holds a duplicate of the socket's descriptor for the block's duration, so it never
    touches another socket even if libpq closes its own descriptor meanwhile.
    """

    def __init__(self, conn: Connection, seconds: float) -> None:
        self._sock = socket.socket(fileno=os.dup(conn.fileno()))
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._lock = threading.Lock()
        self._armed = False
        self.fired = False

    def __enter__(self) -> Watchdog:
        self._armed = True
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self._armed = False
        self._timer.cancel()
        self._sock.close()

    def _fire(self) -> None:
        with self._lock:
            if not self._armed:
                return
            self.fired = True
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)


class Session:
    """The connection of one sink partition: opened on first use (then ``prepare``d, e.g.
    staging tables), each ``run`` bounded by the watchdog, dropped after a transient
    failure so that the next attempt (``connectors.sink_retry``) reconnects."""

    def __init__(
        self,
        dsn: str,
        limits: PgLimits | None = None,
        prepare: Callable[[Connection], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._limits = limits or PgLimits()
        self._prepare = prepare
        self._conn: Connection | None = None
        self._prepared = False

    def run(self, write: Callable[[Connection], T]) -> T:
        """``write(conn)``; any database failure is raised as ``PostgresError``."""
        if self._conn is None or self._conn.closed:
            self._conn, self._prepared = connect(self._dsn, self._limits), False
        conn = self._conn
        dog = Watchdog(conn, self._limits.request_timeout_s)
        try:
            with dog:
                if not self._prepared and self._prepare is not None:
                    self._prepare(conn)
                self._prepared = True
                result = write(conn)
        except (PostgresError, psycopg.Error) as e:
            error = self._settle(conn, dog, e)
            if error is e:
                raise
            raise error from e
        if dog.fired:  # it fired as the write finished: the socket is shut down
            self.close()
        return result

    def _settle(
        self, conn: Connection, dog: Watchdog, e: PostgresError | psycopg.Error
    ) -> PostgresError:
        """The error to raise; the connection is dropped unless it is still usable."""
        if dog.fired:
            error = PostgresError(
                f"no answer from PostgreSQL within {self._limits.request_timeout_s:g} s "
                f"(postgres_request_timeout_s), connection dropped: {e}",
                transient=True,
            )
        else:
            error = e if isinstance(e, PostgresError) else failed("PostgreSQL write", e)
        if error.transient or not self._prepared:
            self.close()
        elif not conn.closed:
            rollback_quietly(conn)  # a refused write: the connection stays
        return error

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def is_bad_data(error: BaseException) -> bool:
    """The database refused the data, not the request: SQLSTATE class 22 or 23 (psycopg's
    ``DataError`` and ``IntegrityError``, also raised before sending, e.g. for a NUL byte)."""
    cause = error.__cause__ if isinstance(error, PostgresError) else error
    return isinstance(cause, psycopg.DataError | psycopg.IntegrityError)


def write_or_reject(
    session: Session,
    items: Sequence[T],
    write: Callable[[Connection, Sequence[T]], None],
    reject: Callable[[T, PostgresError], None],
) -> None:
    """``write`` the items in one transaction. If the database refuses them for bad data,
    write them one transaction each and hand every item it still refuses to ``reject``.
    Any other failure propagates (the sink retries, then stops the worker)."""
    try:
        session.run(lambda conn: write(conn, items))
        return
    except PostgresError as e:
        if not is_bad_data(e):
            raise
    for item in items:
        try:
            session.run(lambda conn: write(conn, [item]))  # noqa: B023 - called at once
        except PostgresError as e:
            if not is_bad_data(e):
                raise
            log.error("rejected by PostgreSQL, sent to the dead letters: %s", e)
            reject(item, e)


@dataclass(frozen=True, slots=True)
class RawSnapshotRow:
    """One raw snapshot with where it came from on the log and where it is archived."""

    envelope: SnapshotEnvelope
    game_date: date
    payload_json: bytes
    s3_key: str | None
    kafka_topic: str | None
    kafka_partition: int | None
    kafka_offset: int | None


# Two snapshots of a game with the same feed timestamp: the later one on the log wins
# (connectors/raw_sinks.py); a repeated write of the same record changes nothing.
_UPSERT_RAW = """
INSERT INTO raw_game_snapshots AS t (
    game_pk, game_date, feed_timestamp, captured_at, ingested_at, source_url, status_code,
    payload, payload_bytes, s3_key, kafka_topic, kafka_partition, kafka_offset
) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (game_pk, feed_timestamp, game_date) DO UPDATE SET
    captured_at = EXCLUDED.captured_at, ingested_at = EXCLUDED.ingested_at,
    source_url = EXCLUDED.source_url, status_code = EXCLUDED.status_code,
    payload = EXCLUDED.payload, payload_bytes = EXCLUDED.payload_bytes,
    s3_key = EXCLUDED.s3_key, kafka_topic = EXCLUDED.kafka_topic,
    kafka_partition = EXCLUDED.kafka_partition, kafka_offset = EXCLUDED.kafka_offset,
    stored_at = now()
WHERE (EXCLUDED.kafka_partition, EXCLUDED.kafka_offset)
    > (COALESCE(t.kafka_partition, -1), COALESCE(t.kafka_offset, -1))
"""


def write_raw_snapshots(conn: Connection, rows: Sequence[RawSnapshotRow]) -> None:
    """Upsert raw snapshots in one transaction; of two with the same key, the one with the
    higher log position (partition, offset) is kept."""
    if not rows:
        return
    params = [
        (
            r.envelope.gamePk,
            r.game_date,
            r.envelope.feed_timestamp,
            r.envelope.captured_at,
            r.envelope.ingested_at,
            r.envelope.source_url,
            r.envelope.status_code,
            Jsonb(r.payload_json, dumps=_identity),
            len(r.payload_json),
            r.s3_key,
            r.kafka_topic,
            r.kafka_partition,
            r.kafka_offset,
        )
        for r in rows
    ]
    games = sorted({r.envelope.gamePk for r in rows})
    execute_many(
        conn,
        _UPSERT_RAW,
        params,
        f"raw_game_snapshots: upsert of {len(rows)} snapshots (games {games})",
    )


def execute_many(
    conn: Connection, query: str | sql.Composed, params: Sequence[Sequence[object]], what: str
) -> None:
    """Run ``query`` for every row of ``params`` in one transaction; on failure roll back and
    raise ``PostgresError`` saying ``what`` failed (the database error is its cause)."""
    try:
        with conn.cursor() as cur:
            cur.executemany(query, params)
        conn.commit()
    except psycopg.Error as e:
        rollback_quietly(conn)
        raise failed(what, e) from e


def _identity(payload: object) -> str:
    # The payload is JSON already: hand it to the server as it is, without re-encoding.
    assert isinstance(payload, bytes)
    return payload.decode()
