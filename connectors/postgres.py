"""PostgreSQL edge: connections and the raw-tier writer.

Writes are idempotent upserts on natural keys (docs/architecture.md, "Rules of the code"),
so a replay or a resumed worker repeating its last epoch lands nothing twice. A batch the
database refuses for its data (SQLSTATE class 22, data exception, or 23, integrity
violation; ``write_or_reject``) is written again item by item, and each item it still
refuses is handed back as rejected (it becomes a dead letter), so one bad row never stops
the flow. Exceptions::

    PostgresError (RuntimeError)   the database refused or could not be reached; says which
                                   table and game
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from flows.game.envelope import SnapshotEnvelope

log = logging.getLogger(__name__)

T = TypeVar("T")

Connection = psycopg.Connection[tuple[object, ...]]


class PostgresError(RuntimeError):
    """Broken infrastructure: the database refused a write or is unreachable."""


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


_UPSERT_RAW = """
INSERT INTO raw_game_snapshots (
    game_pk, game_date, feed_timestamp, captured_at, ingested_at, source_url, status_code,
    payload, payload_bytes, s3_key, kafka_topic, kafka_partition, kafka_offset
) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (game_pk, feed_timestamp, game_date) DO NOTHING
"""


def connect(dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(dsn, autocommit=False)
    except psycopg.OperationalError as e:
        raise PostgresError(f"cannot connect to PostgreSQL: {e}") from e


class Session:
    """The connection of one sink partition: opened on first use, closed after a failure so
    that the next attempt (``connectors.sink_retry``) reconnects."""

    def __init__(
        self, dsn: str, opener: Callable[[str], psycopg.Connection[tuple[object, ...]]] = connect
    ) -> None:
        self._dsn = dsn
        self._opener = opener
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def run(self, write: Callable[[psycopg.Connection[tuple[object, ...]]], T]) -> T:
        if self._conn is None or self._conn.closed:
            self._conn = self._opener(self._dsn)
        try:
            return write(self._conn)
        except PostgresError:
            self._conn.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def is_bad_data(error: BaseException) -> bool:
    """The database refused the data, not the request: SQLSTATE class 22 or 23 (psycopg's
    ``DataError`` and ``IntegrityError``, also raised before sending, e.g. for a NUL byte)."""
    cause = error.__cause__ if isinstance(error, PostgresError) else error
    return isinstance(cause, psycopg.DataError | psycopg.IntegrityError)


def write_or_reject(
    session: Session,
    items: Sequence[T],
    write: Callable[[psycopg.Connection[tuple[object, ...]], Sequence[T]], None],
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


def write_raw_snapshots(
    conn: psycopg.Connection[tuple[object, ...]], rows: Sequence[RawSnapshotRow]
) -> None:
    """Upsert raw snapshots in one transaction (a snapshot already stored is left as is)."""
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
        conn.rollback()
        raise PostgresError(f"{what} failed: {e}") from e


def _identity(payload: object) -> str:
    # The payload is JSON already: hand it to the server as it is, without re-encoding.
    assert isinstance(payload, bytes)
    return payload.decode()
