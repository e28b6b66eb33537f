"""Bytewax sinks for the raw tier: PostgreSQL (JSONB + envelope) and the S3 archive.

Both are idempotent (upsert on ``(game_pk, feed_timestamp)``; deterministic S3 keys), so
Bytewax's at-least-once replay of an epoch after a resume lands nothing twice. A transient
failure is retried within the outage budget (``connectors.sink_retry``); a lasting one
raises and stops the worker (broken infrastructure is an exception, docs/architecture.md,
"Rules of the code").

**Two snapshots, one key.** MLB may answer twice with the same ``metaData.timeStamp`` and
different content (a correction without a new time stamp). Both stores then keep the one
that is *later on the log* (higher partition, then offset; a game's records share one
partition, keyed by gamePk), which is also the one the engine processed last:

- S3: the key is the same, and the sink's writer keeps each game's order, so the later
  record overwrites the earlier one;
- PostgreSQL: the upsert replaces a stored row only by one with a higher log position
  (``connectors.postgres.write_raw_snapshots``), whatever order the writes arrive in (a
  replay of an earlier epoch after a resume changes nothing). A row without a position
  (not read from Kafka) is replaced by any row with one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bytewax.outputs import StatelessSinkPartition

from connectors import postgres, s3
from connectors.rejects import Rejects, reject_snapshot
from connectors.sink_retry import RetryPolicy
from connectors.storage_ops import StoredBatch, stored_batch
from connectors.storage_sinks import ObjectSink, PostgresSink
from flows.game.accepted import AcceptedSnapshot
from mlbsts.settings import Settings

log = logging.getLogger(__name__)


def s3_key_of(item: AcceptedSnapshot) -> str:
    env = item.envelope
    return s3.raw_snapshot_key(item.game_date, env.gamePk, env.feed_timestamp or "no-timestamp")


def _snapshot_objects(items: list[AcceptedSnapshot]) -> list[tuple[str, bytes]]:
    return [(s3_key_of(i), i.envelope.payload_gzip()) for i in items]


def _raw_row(i: AcceptedSnapshot) -> postgres.RawSnapshotRow:
    return postgres.RawSnapshotRow(
        envelope=i.envelope,
        game_date=i.game_date,
        payload_json=i.payload_json,
        s3_key=s3_key_of(i),
        kafka_topic=i.topic,
        kafka_partition=i.partition,
        kafka_offset=i.offset,
    )


def _write_raw(conn: postgres.Connection, items: Sequence[AcceptedSnapshot]) -> None:
    postgres.write_raw_snapshots(conn, [_raw_row(i) for i in items])


class _PostgresPartition(StatelessSinkPartition[AcceptedSnapshot]):
    def __init__(self, dsn: str, rejects: Rejects, limits: postgres.PgLimits, what: str) -> None:
        self._session = postgres.Session(dsn, limits)
        self._reject = reject_snapshot(rejects)
        self._retry = RetryPolicy(limits.outage_budget_s)
        self._what = what

    def write_batch(self, items: list[AcceptedSnapshot]) -> None:
        stamped = [i for i in items if i.envelope.feed_timestamp is not None]
        self._retry.call(
            lambda: postgres.write_or_reject(self._session, stamped, _write_raw, self._reject),
            self._what,
        )

    def stored(self, items: list[AcceptedSnapshot]) -> StoredBatch:
        """The rows written (``connectors.storage_ops``); bytes: their JSON payloads."""
        stamped = [i for i in items if i.envelope.feed_timestamp is not None]
        nbytes = sum(len(i.payload_json) for i in stamped)
        return stored_batch("postgres", ["raw_game_snapshots"], stamped, nbytes=nbytes)

    def close(self) -> None:
        self._session.close()


class RawPostgresSink(PostgresSink[AcceptedSnapshot]):
    """Every accepted snapshot into ``raw_game_snapshots``; one the database refuses for
    its data goes to ``rejects`` as a ``db_rejected`` dead letter. ``limits``: timeouts and
    outage budget (``PgLimits.of`` the settings; the settings' defaults if not given)."""

    partition = _PostgresPartition


class RawS3Sink(ObjectSink[AcceptedSnapshot]):
    """Every accepted snapshot, gzip, at ``raw/date=D/game_pk=N/<timeStamp>.json.gz``; each
    request bounded by ``s3_timeout_s``, failures retried for ``sink_outage_budget_s``."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, _snapshot_objects, "application/gzip")
