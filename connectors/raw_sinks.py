"""Bytewax sinks for the raw tier: PostgreSQL (JSONB + envelope) and the S3 archive.

Both are idempotent (upsert on ``(game_pk, feed_timestamp)``; deterministic S3 keys), so
Bytewax's at-least-once replay of an epoch after a resume lands nothing twice. A transient
failure is retried with backoff; a lasting one raises and stops the worker (broken
infrastructure is an exception, STYLE.md 3).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import psycopg
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from minio import Minio
from tenacity import (
    before_sleep_log,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from connectors import postgres, s3
from flows.accepted import AcceptedSnapshot
from mlbsts.settings import Settings

log = logging.getLogger(__name__)

S3_PUT_CONCURRENCY = 8

_transient = retry(
    retry=retry_if_exception_type((postgres.PostgresError, s3.ObjectStoreError)),
    stop=stop_after_attempt(5),
    wait=wait_exponential_jitter(initial=0.2, max=5.0),
    before_sleep=before_sleep_log(log, logging.WARNING),
    reraise=True,
)


def s3_key_of(item: AcceptedSnapshot) -> str:
    env = item.envelope
    return s3.raw_snapshot_key(item.game_date, env.gamePk, env.feed_timestamp or "no-timestamp")


class _PostgresPartition(StatelessSinkPartition[AcceptedSnapshot]):
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    @_transient
    def write_batch(self, items: list[AcceptedSnapshot]) -> None:
        rows = [
            postgres.RawSnapshotRow(
                envelope=i.envelope,
                game_date=i.game_date,
                payload_json=i.payload_json,
                s3_key=s3_key_of(i),
                kafka_topic=i.topic,
                kafka_partition=i.partition,
                kafka_offset=i.offset,
            )
            for i in items
            if i.envelope.feed_timestamp is not None
        ]
        if self._conn is None or self._conn.closed:
            self._conn = postgres.connect(self._dsn)
        try:
            postgres.write_raw_snapshots(self._conn, rows)
        except postgres.PostgresError:
            self._conn.close()  # reconnect on the next attempt
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class RawPostgresSink(DynamicSink[AcceptedSnapshot]):
    """Every accepted snapshot into ``raw_game_snapshots``."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _PostgresPartition:
        return _PostgresPartition(self._dsn)


class _S3Partition(StatelessSinkPartition[AcceptedSnapshot]):
    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self._bucket = bucket
        # a PUT is ~20 ms of waiting on the server: a batch's objects go up concurrently
        self._pool = ThreadPoolExecutor(max_workers=S3_PUT_CONCURRENCY, thread_name_prefix="s3put")

    @_transient
    def write_batch(self, items: list[AcceptedSnapshot]) -> None:
        def put(item: AcceptedSnapshot) -> None:
            s3.put_bytes(
                self._client,
                self._bucket,
                s3_key_of(item),
                item.envelope.payload_gzip(),
                content_type="application/gzip",
            )

        # list() waits for every PUT and re-raises the first failure: the batch is written
        # completely before write_batch returns, or it raises (and is retried)
        list(self._pool.map(put, items))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class RawS3Sink(DynamicSink[AcceptedSnapshot]):
    """Every accepted snapshot, gzip, at ``raw/date=D/game_pk=N/<timeStamp>.json.gz``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _S3Partition:
        return _S3Partition(s3.client(self._settings), self._settings.s3_bucket)
