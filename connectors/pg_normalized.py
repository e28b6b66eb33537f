"""PostgreSQL edge, normalized tier: the writer and Bytewax sink of the event tables.

:func:`write_events` turns events into rows (pure, ``connectors.pg_rows``) and writes
them in one transaction with the guarded upsert of ``connectors.pg_upsert``, under the
defensive guard of docs/architecture.md section 2::

    ON CONFLICT (<identity>) DO UPDATE SET ...
    WHERE (EXCLUDED.source_ts, EXCLUDED.revision) > (t.source_ts, t.revision)

so an old batch replayed late changes nothing and a replay from scratch (revisions restart
at 0, feed timestamps are the same) converges to the same rows. A
:class:`~flows.game.events.Retraction` sets ``retracted`` under the same guard; nothing is
deleted. :class:`NormalizedEventsSink` is the Bytewax sink (at-least-once, idempotent).

Exceptions: :class:`connectors.postgres.PostgresError` (naming table and games) for every
database failure; transient ones are retried by the sink within its outage budget
(``connectors.sink_retry``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg
from bytewax.outputs import StatelessSinkPartition
from psycopg import sql

from connectors import postgres
from connectors.pg_rows import (
    EVENT_TABLES,
    GAME_ACTIONS,
    GAME_STATUS,
    PITCH_EVENTS,
    PLAYS,
    REVIEWS,
    RUNNER_EVENTS,
    event_rows,
    table_of_event_id,
)
from connectors.pg_upsert import Conn, Table, stager, upsert
from connectors.rejects import Rejects, reject_batch
from connectors.sink_retry import RetryPolicy
from connectors.storage_ops import StoredBatch, stored_batch
from connectors.storage_sinks import PostgresSink
from flows.game.batches import EventBatch
from flows.game.events import Event

__all__ = ["NormalizedEventsSink", "write_events"]
# The tables it writes, as connectors.pg_rows defines them.
__all__ += ["EVENT_TABLES", "GAME_ACTIONS", "GAME_STATUS", "PITCH_EVENTS", "PLAYS", "REVIEWS"]
__all__ += ["RUNNER_EVENTS", "table_of_event_id"]

log = logging.getLogger(__name__)


def _retract_sql(table: Table) -> sql.Composed:
    return sql.SQL(
        "UPDATE {} AS t SET retracted = true, revision = %(revision)s, source_ts = %(ts)s "
        "WHERE t.event_id = %(event_id)s "
        "AND (%(ts)s::text, %(revision)s::integer) > (t.source_ts, t.revision)"
    ).format(sql.Identifier(table.name))


def write_events(conn: Conn, events: Sequence[Event]) -> int:
    """Upsert ``events`` in one transaction; returns the rows changed."""
    built = event_rows(events)
    if built.skipped:
        log.warning("%d events have no normalized table; skipped", built.skipped)
    changed = 0
    table: Table | None = None
    try:
        with conn.cursor() as cur:
            for table in EVENT_TABLES:
                if rows := built.rows.get(table.name):
                    changed += upsert(cur, table, rows)
            for table in EVENT_TABLES:
                if retractions := built.retractions.get(table.name):
                    cur.executemany(_retract_sql(table), retractions)
                    changed += len(retractions)
        conn.commit()
    except psycopg.Error as e:
        postgres.rollback_quietly(conn)
        games = sorted({event.gamePk for event in events})
        name = table.name if table is not None else "?"
        raise postgres.failed(f"{name}: upsert of {len(events)} events (games {games})", e) from e
    return changed


class _EventsPartition(StatelessSinkPartition[EventBatch]):
    def __init__(self, dsn: str, rejects: Rejects, limits: postgres.PgLimits, what: str) -> None:
        self._session = postgres.Session(dsn, limits, stager(EVENT_TABLES))
        self._reject = reject_batch(rejects)
        self._retry = RetryPolicy(limits.outage_budget_s)
        self._what = what

    def write_batch(self, items: list[EventBatch]) -> None:
        batches = [batch for batch in items if batch.events]
        self._retry.call(
            lambda: postgres.write_or_reject(self._session, batches, _write_batches, self._reject),
            self._what,
        )

    def stored(self, items: list[EventBatch]) -> StoredBatch:
        """The event tables written (``connectors.storage_ops``); rows: events."""
        events = [event for batch in items for event in batch.events]
        tables = {t.name for e in events if (t := table_of_event_id(e.event_id)) is not None}
        return stored_batch("postgres", tables, items, rows=len(events))

    def close(self) -> None:
        self._session.close()


def _write_batches(conn: postgres.Connection, batches: Sequence[EventBatch]) -> None:
    write_events(conn, [event for batch in batches for event in batch.events])


class NormalizedEventsSink(PostgresSink[EventBatch]):
    """Every event of every batch into the normalized event tables (defensive upserts); the
    events of a snapshot the database refuses for their data go to ``rejects`` as a
    ``db_rejected`` dead letter. ``limits``: timeouts and outage budget (``PgLimits.of``
    the settings; the settings' defaults if not given)."""

    partition = _EventsPartition
