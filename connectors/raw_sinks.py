"""Bytewax sinks for the raw tier: PostgreSQL (JSONB + envelope) and the S3 archive.

Both are idempotent (upsert on ``(game_pk, feed_timestamp)``; deterministic S3 keys), so
Bytewax's at-least-once replay of an epoch after a resume lands nothing twice. A transient
failure is retried with backoff; a lasting one raises and stops the worker (broken
infrastructure is an exception, docs/architecture.md, "Rules of the code").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors import postgres, s3
from connectors.rejects import Rejects, raise_rejected, reject_snapshot
from connectors.sink_retry import sink_retry
from flows.game.accepted import AcceptedSnapshot
from mlbsts.settings import Settings

log = logging.getLogger(__name__)

_transient = sink_retry(postgres.PostgresError, s3.ObjectStoreError)


def s3_key_of(item: AcceptedSnapshot) -> str:
    env = item.envelope
    return s3.raw_snapshot_key(item.game_date, env.gamePk, env.feed_timestamp or "no-timestamp")


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
    def __init__(self, dsn: str, rejects: Rejects) -> None:
        self._session = postgres.Session(dsn)
        self._reject = reject_snapshot(rejects)

    @_transient
    def write_batch(self, items: list[AcceptedSnapshot]) -> None:
        stamped = [i for i in items if i.envelope.feed_timestamp is not None]
        postgres.write_or_reject(self._session, stamped, _write_raw, self._reject)

    def close(self) -> None:
        self._session.close()


class RawPostgresSink(DynamicSink[AcceptedSnapshot]):
    """Every accepted snapshot into ``raw_game_snapshots``; one the database refuses for
    its data goes to ``rejects`` as a ``db_rejected`` dead letter."""

    def __init__(self, dsn: str, rejects: Rejects = raise_rejected) -> None:
        self._dsn = dsn
        self._rejects = rejects

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _PostgresPartition:
        return _PostgresPartition(self._dsn, self._rejects)


class _S3Partition(StatelessSinkPartition[AcceptedSnapshot]):
    def __init__(self, writer: s3.ObjectWriter) -> None:
        self._writer = writer

    @_transient
    def write_batch(self, items: list[AcceptedSnapshot]) -> None:
        objects = [(s3_key_of(i), i.envelope.payload_gzip()) for i in items]
        self._writer.put_all(objects, content_type="application/gzip")

    def close(self) -> None:
        self._writer.close()


class RawS3Sink(DynamicSink[AcceptedSnapshot]):
    """Every accepted snapshot, gzip, at ``raw/date=D/game_pk=N/<timeStamp>.json.gz``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _S3Partition:
        return _S3Partition(s3.ObjectWriter(s3.client(self._settings), self._settings.s3_bucket))
